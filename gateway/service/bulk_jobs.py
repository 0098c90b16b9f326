"""A bulk file filed in the background, its progress readable from any process (the console's bulk
page reads it while the orders are filed, then offers the result sheet).

One folder per upload, ``<instance>/bulk/<tenant id>/<job id>/`` (0700), holding:

    source.<kind>     the file as uploaded
    progress.json     {"state": running|done|failed, "filename", "kind", "done", "total", "error", "problems"}:
                      replaced whole (write, then rename) after every chunk of ``bulk.CHUNK`` orders
    result.json       when done: ``FileResult.as_dict()`` (each row's status, order id and problems)
    result.<xlsx|csv> when done: the result sheet (``bulk_files.write_result``): a sheet's own rows with
                      status, order_id and problems beside them; XLSX for JSON and JSON Lines input

The folders are ``gateway.adapters.job_folders``. The work runs in a thread of the process that took the upload: on disk, every worker process of the
server reads the same progress. A process that dies mid-file leaves the job "running" with the
orders filed up to its last chunk stored (each chunk is one transaction); uploading the same file
again files the rest (orders filed before answer "existing"). Folders are not pruned yet.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import IO

from gateway.adapters.job_folders import JobFolders, read_json, save, write_json

from .bulk import KINDS, BadFile, FileResult, submit_file
from .bulk_files import write_result

RUNNING, DONE, FAILED = "running", "done", "failed"
RESULT_MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "csv": "text/csv; charset=utf-8"}
log = logging.getLogger(__name__)
_threads: dict[str, threading.Thread] = {}


def _folders(gateway) -> JobFolders:
    return JobFolders(Path(gateway.settings.instance_dir) / "bulk")


def result_kind(kind: str) -> str:
    return kind if kind in RESULT_MEDIA else "xlsx"


def start(gateway, tenant_id: str, filename: str, stream: IO[bytes]) -> str:
    """Store the file and file its orders in a background thread; answers the job id at once.
    BadFile when the name is not one of a bulk file (nothing stored)."""
    kind = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kind not in KINDS:
        raise BadFile(f"{filename}: a bulk file is .xlsx, .csv, .json or .jsonl")
    job_id, folder = _folders(gateway).new(tenant_id)
    save(stream, folder / f"source.{kind}")
    state = {"state": RUNNING, "filename": filename, "kind": kind, "done": 0, "total": None, "error": None,
             "problems": []}
    write_json(folder / "progress.json", state)
    thread = threading.Thread(target=_run, args=(gateway, tenant_id, folder, state), name=f"bulk-{job_id[:8]}",
                              daemon=True)
    _threads[job_id] = thread
    thread.start()
    return job_id


def _run(gateway, tenant_id: str, folder: Path, state: dict) -> None:
    source = folder / f"source.{state['kind']}"

    def progress(done: int, total: int | None) -> None:
        state.update(done=done, total=total)
        write_json(folder / "progress.json", state)

    try:
        with open(source, "rb") as stream:
            result = submit_file(gateway, tenant_id, state["filename"], stream, progress=progress)
        _write_result(folder, result, state["kind"])
        state.update(state=DONE)
    except BadFile as exc:
        state.update(state=FAILED, error=str(exc), problems=[p.as_dict() for p in exc.problems])
    except Exception as exc:      # the page must say the job ended, whatever ended it
        log.exception("bulk file %s failed", folder.name)
        state.update(state=FAILED, error=f"the gateway failed while filing ({type(exc).__name__}): the orders "
                                         f"filed before it ({state['done']} rows) are stored; upload the file "
                                         "again to file the rest")
    finally:
        write_json(folder / "progress.json", state)
        _threads.pop(folder.name, None)


def _write_result(folder: Path, result: FileResult, kind: str) -> None:
    write_json(folder / "result.json", result.as_dict())
    out_kind = result_kind(kind)
    tmp = folder / f"result.{out_kind}.tmp"
    with open(folder / f"source.{kind}", "rb") as source, open(tmp, "wb") as out:
        write_result(result, source, out_kind, out)
    os.replace(tmp, folder / f"result.{out_kind}")


def read(gateway, tenant_id: str, job_id: str) -> dict | None:
    """The job's progress and, when done, its result (``result``); None when the tenant has no such job."""
    folder = _folders(gateway).find(tenant_id, job_id)
    state = read_json(folder / "progress.json") if folder is not None else None
    if folder is None or state is None:
        return None
    state.update(id=job_id, result=None)
    if state["state"] == DONE:
        state.update(result=read_json(folder / "result.json"), result_kind=result_kind(state["kind"]))
    return state


def result_sheet(gateway, tenant_id: str, job_id: str) -> tuple[bytes, str, str] | None:
    """The result sheet's bytes, media type and a file name; None while not done or not the tenant's."""
    state, folder = read(gateway, tenant_id, job_id), _folders(gateway).find(tenant_id, job_id)
    if state is None or folder is None or state["state"] != DONE:
        return None
    kind = state["result_kind"]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", state["filename"].rsplit(".", 1)[0])[:80] or "orders"
    return (folder / f"result.{kind}").read_bytes(), RESULT_MEDIA[kind], f"{stem}-result.{kind}"


def wait(job_id: str, timeout: float | None = None) -> None:
    """Until the job's thread (in this process) has ended: for tests."""
    thread = _threads.get(job_id)
    if thread is not None:
        thread.join(timeout)
