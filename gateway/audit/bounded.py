"""Files from outside read with bounds: evidence bundles (zip) and single XML files.

A bundle is refused before anything is decompressed when the archive is too large, holds too many
entries, or declares an entry too large or compressed beyond a plausible ratio (a zip bomb); while
reading, no entry yields more than it declared and the total read stays under ``total_bytes``. Every
refusal is one line (``InputRefused``), never a traceback. docs/audit.md "Limits" lists the defaults.
"""
from __future__ import annotations

import io
import os
import zipfile
import zlib
from dataclasses import dataclass

MAX_XML_FILE_BYTES = 16 * 1024 * 1024       # one XML file given on the command line (gateway verify)


class InputRefused(ValueError):
    """The file is too large, malformed or hostile; the message is one line for people."""


@dataclass(frozen=True)
class ZipLimits:
    archive_bytes: int = 512 * 1024 * 1024    # the zip file itself
    entries: int = 50_000                     # entries in its central directory
    entry_bytes: int = 64 * 1024 * 1024       # one entry, uncompressed
    total_bytes: int = 512 * 1024 * 1024      # everything read, uncompressed (what is held in memory)
    ratio: int = 200                          # uncompressed : compressed, for entries over ``ratio_from``
    ratio_from: int = 1024 * 1024


DEFAULT_LIMITS = ZipLimits()


def _size(source) -> int:
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    here = source.tell()
    end = source.seek(0, io.SEEK_END)
    source.seek(here)
    return end


def read_file(path, max_bytes: int = MAX_XML_FILE_BYTES) -> bytes:
    """A whole file, at most ``max_bytes`` (``InputRefused`` above; OSError when unreadable)."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputRefused(f"{os.fspath(path)} is larger than {max_bytes:,} bytes")
    return data


class BoundedZip:
    """A zip opened for reading under ``limits``; ``read(name)`` returns the entry's bytes or raises
    ``InputRefused`` naming the entry."""

    def __init__(self, source, limits: ZipLimits = DEFAULT_LIMITS):
        self.limits = limits
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        try:
            size = _size(source)
        except OSError as exc:
            raise InputRefused(f"cannot read the file: {exc.strerror or exc}") from None
        if size > limits.archive_bytes:
            raise InputRefused(f"the archive is {size:,} bytes; the limit is {limits.archive_bytes:,}")
        try:
            self.z = zipfile.ZipFile(source)
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            raise InputRefused(f"not a readable zip file: {exc}") from None
        infos = self.z.infolist()
        if len(infos) > limits.entries:
            self.z.close()
            raise InputRefused(f"the archive holds {len(infos):,} entries; the limit is {limits.entries:,}")
        declared = 0
        for info in infos:
            self._check_entry(info)
            declared += info.file_size
        if declared > limits.total_bytes:
            self.z.close()
            raise InputRefused(f"the entries declare {declared:,} bytes uncompressed; the limit is "
                               f"{limits.total_bytes:,}")
        self.infos = infos
        self.names = [i.filename for i in infos]
        self._read = 0

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        limits = self.limits
        if info.file_size > limits.entry_bytes:
            self.z.close()
            raise InputRefused(f"{info.filename!r} declares {info.file_size:,} bytes; the limit per entry is "
                               f"{limits.entry_bytes:,}")
        if info.file_size > limits.ratio_from and info.file_size > limits.ratio * max(info.compress_size, 1):
            self.z.close()
            raise InputRefused(f"{info.filename!r} expands {info.file_size // max(info.compress_size, 1):,} times "
                               f"(limit {limits.ratio}): a zip bomb")

    def read(self, name: str) -> bytes:
        info = self.z.getinfo(name)
        budget = min(info.file_size, self.limits.entry_bytes, self.limits.total_bytes - self._read)
        try:
            with self.z.open(info) as f:
                data = f.read(budget + 1)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError, ValueError,
                zlib.error) as exc:   # RuntimeError: encrypted; NotImplementedError: unknown compression
            raise InputRefused(f"{name}: cannot be read: {exc}") from None
        if len(data) > budget:
            raise InputRefused(f"{name}: yields more than it declares or the limits allow")
        self._read += len(data)
        return data

    def close(self) -> None:
        self.z.close()

    def __enter__(self) -> BoundedZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
