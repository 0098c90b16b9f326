"""Files at rest (issue 9, item 8): the instance folder is 0700, the SQLite database and key files
0600. What the gateway creates gets these modes from the start; what exists already is checked at
start-up and a looser mode is reported (a warning naming the chmod that fixes it), not changed —
the operator decides about files the gateway did not make."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("gateway.security")

DIR_MODE, FILE_MODE = 0o700, 0o600


def make_instance_dir(path: Path) -> None:
    """Create the instance folder 0700 (its parents as the umask says)."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(path, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` 0600 unless it exists (SQLite then keeps the mode, also for -wal/-shm)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, FILE_MODE)


def loose(path: Path, wanted: int) -> int | None:
    """The mode of ``path`` when it grants more than ``wanted`` to group or others, else None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & 0o077 & ~wanted else None


def check(instance_dir: Path, files=()) -> list[str]:
    """Warnings (also logged) for the instance folder and ``files`` (database, keys) that others may read."""
    warnings = []
    targets = [(Path(instance_dir), DIR_MODE)] + [(Path(f), FILE_MODE) for f in files if f]
    for path, wanted in targets:
        mode = loose(path, wanted)
        if mode is not None:
            warnings.append(f"{path} is mode {mode:04o}: others on this machine may read it "
                            f"(chmod {wanted:04o} {path})")
    for w in warnings:
        log.warning("%s", w)
    return warnings


def check_instance(instance_dir: Path, db_file: Path | None, signing_key: Path | None) -> tuple[str, ...]:
    """The start-up check: the instance folder and its keys folder, the SQLite database with its
    -wal/-shm files, the development keys and the configured signing key."""
    instance_dir = Path(instance_dir)
    files: list[Path | None] = [signing_key, *sorted((instance_dir / "keys").glob("*key*.pem"))]
    if db_file is not None:
        files += [db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")]
    return tuple(check(instance_dir, files) + check(instance_dir / "keys"))
