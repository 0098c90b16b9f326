"""Folders that hold a background job's files (the console's bulk uploads, gateway/service/bulk_jobs.py):
``<root>/<tenant id>/<job id>/``, mode 0700, readable by every process of the server. Names are
checked here (a job id is 32 hex digits, a tenant id a plain token): a path is never of the caller's
making. JSON state files are replaced whole (written beside, then renamed), so a reader sees the
old state or the new one, never half of one."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import IO

JOB_ID = re.compile(r"[0-9a-f]{32}")
TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
DIR_MODE = 0o700


class JobFolders:
    def __init__(self, root: Path):
        self.root = Path(root)

    def new(self, tenant_id: str) -> tuple[str, Path]:
        """A fresh job id and its (created) folder."""
        if not TENANT_ID.fullmatch(tenant_id or ""):
            raise ValueError(f"not a tenant id: {tenant_id!r}")
        job_id = secrets.token_hex(16)
        folder = self.root / tenant_id / job_id
        for path in (self.root, folder.parent, folder):
            path.mkdir(mode=DIR_MODE, exist_ok=True)
        return job_id, folder

    def find(self, tenant_id: str, job_id: str) -> Path | None:
        """The tenant's job folder; None when the ids are not ids or the folder does not exist."""
        if not JOB_ID.fullmatch(job_id or "") or not TENANT_ID.fullmatch(tenant_id or ""):
            return None
        folder = self.root / tenant_id / job_id
        return folder if folder.is_dir() else None


def save(stream: IO[bytes], path: Path) -> None:
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out)


def write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
