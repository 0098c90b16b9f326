"""Bundles and XML files from outside (gateway.audit.bounded, gateway.audit.bundle): bounded memory
and size, and a one-line reason with a non-zero exit for anything hostile — never a traceback."""
from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import pytest

from gateway import cli
from gateway.audit.bounded import BoundedZip, InputRefused, ZipLimits, read_file
from gateway.audit.bundle import bundle_timeline, verify_bundle


def zip_of(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def failures(report) -> list[str]:
    return [f"{f.subject}: {f.message}" for f in report.findings if f.level == "fail"]


def manifest(files=None, orders=None, **extra) -> bytes:
    body = {"format": "gateway-evidence/1", "files": files if files is not None else {}, **extra}
    if orders is not None:
        body["orders"] = orders
    return json.dumps(body).encode()


def test_a_zip_bomb_is_refused_before_it_is_expanded_in_bounded_memory():
    bomb = zip_of({"manifest.json": b"\0" * (48 * 1024 * 1024)})      # ~48 kB on disk
    assert len(bomb) < 100_000
    tracemalloc.start()
    report = verify_bundle(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not report.ok and "zip bomb" in failures(report)[0]
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.parametrize("limits, entries, reason", [
    (ZipLimits(entries=3), {f"f{i}": b"x" for i in range(4)}, "entries"),
    (ZipLimits(entry_bytes=1000, ratio_from=10**9), {"a": b"x" * 1001}, "per entry"),
    (ZipLimits(total_bytes=1500, ratio_from=10**9), {"a": b"x" * 1000, "b": b"y" * 1000}, "declare"),
    (ZipLimits(archive_bytes=100), {"a": b"x" * 1000}, "archive"),
])
def test_each_bound_is_one_line(limits, entries, reason):
    report = verify_bundle(zip_of(entries, zipfile.ZIP_STORED), limits=limits)
    assert not report.ok and len(failures(report)) == 1 and reason in failures(report)[0]


def test_an_entry_that_lies_about_its_size_is_never_read_past_what_it_declares():
    data = bytearray(zip_of({"manifest.json": manifest()}, zipfile.ZIP_STORED))
    # shrink the size the central directory declares: the read stops there and the CRC fails
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 5)
    report = verify_bundle(bytes(data))
    assert not report.ok and any("manifest.json" in f for f in failures(report))


@pytest.mark.parametrize("mangle", ["encrypted", "unknown-method", "truncated", "empty", "garbage"])
def test_malformed_zips_are_a_finding_not_an_exception(mangle):
    data = bytearray(zip_of({"manifest.json": manifest()}))
    if mangle == "encrypted":
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = data.find(sig)
            struct.pack_into("<H", data, i + at, struct.unpack_from("<H", data, i + at)[0] | 1)
    elif mangle == "unknown-method":
        for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            struct.pack_into("<H", data, data.find(sig) + at, 99)
    elif mangle == "truncated":
        data = data[: len(data) // 2]
    elif mangle == "empty":
        data = bytearray()
    else:
        data = bytearray(b"PK\x03\x04" + b"\xff" * 200)
    report = verify_bundle(bytes(data))
    assert not report.ok and failures(report)


@pytest.mark.parametrize("content", [
    {"manifest.json": b"[1, 2]"},
    {"manifest.json": manifest(files=["a"])},
    {"manifest.json": manifest(files={"a": 5})},
    {"manifest.json": manifest(orders={"x": 1})},
    {"manifest.json": manifest(orders=[{"x": 1}])},
    {"manifest.json": b"\xff\xfe not utf-8"},
    {"manifest.json": manifest(files={"audit/chain.jsonl": "0" * 64}), "audit/chain.jsonl": b"[1]\n5\n{}\n\xff\n"},
])
def test_hostile_manifests_and_chains_end_in_findings(content):
    report = verify_bundle(zip_of(content))
    assert not report.ok and failures(report)


def test_timeline_of_a_hostile_chain_skips_what_it_cannot_read():
    chain = b'[1]\n{"id": {}, "at": 1, "action": "x", "subject_type": "o", "subject_id": 1}\n\xff\n' \
            b'{"id": 7, "at": "t", "action": "order.received", "subject_type": "order", "subject_id": "A"}\n'
    assert [e["id"] for e in bundle_timeline(zip_of({"audit/chain.jsonl": chain}))] == [7]
    with pytest.raises(InputRefused):
        bundle_timeline(b"not a zip")


def test_the_cli_prints_one_line_and_exits_non_zero(tmp_path, capsys):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_of({"manifest.json": b"\0" * (8 * 1024 * 1024)}))
    assert cli.main(["audit", "verify", str(bomb), "--timeline"]) != 0
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "zip bomb" in out.out
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    assert cli.main(["audit", "verify", str(junk), "--timeline"]) != 0
    assert "Traceback" not in "".join(capsys.readouterr())


def test_xml_files_from_outside_are_read_with_a_bound(tmp_path, capsys):
    big = tmp_path / "big.xml"
    big.write_bytes(b"<a>" + b" " * 2000 + b"</a>")
    with pytest.raises(InputRefused):
        read_file(big, max_bytes=1000)
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as f:
        f.truncate(17 * 1024 * 1024)                                      # sparse: no disk used
    assert cli.main(["verify", str(huge)]) != 0
    out = capsys.readouterr().out
    assert "FAIL" in out and "larger than" in out and "Traceback" not in out


def test_bounded_zip_reads_what_fits():
    with BoundedZip(zip_of({"a": b"hello"})) as z:
        assert z.names == ["a"] and z.read("a") == b"hello"
