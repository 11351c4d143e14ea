"""Hostile input to `aigif info` (aigif/cli/cmd_info.py; some cases also run `export --format
json`): empty, truncated and foreign files, container limits, and extension values that the
JSON form cannot carry (binary, NaN/Infinity, msgpack bombs).

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import json

import pytest

from aigif.bits import leb128
from aigif.container import ANCILLARY, SAFE_TO_COPY, SYNTAX, Segment
from aigif.errors import ExitStatus
from harness import assert_fails_cleanly, cli, regression, user_facing_env  # noqa: F401 (fixture)
from samples import SYNTAX_BODY, aigif_file, extension_segment


@pytest.mark.parametrize("content", [b"", b"\xa1", b"GIF89a", b"\xa1G\x10\x00", b"\xa1G\x20\x00\x00\x00"],
                         ids=["empty", "one-byte", "gif", "no-crc", "version-2"])
def test_empty_truncated_or_foreign_file(tmp_path, capsys, content):
    p = tmp_path / "x.aigif"
    p.write_bytes(content)
    for verb in (["info"], ["info", "--json"], ["export", "--format", "json"]):
        code, out, err = cli(capsys, *verb, p)
        assert_fails_cleanly(code, err, ExitStatus.UNSUPPORTED if content.startswith(b"\xa1G\x20") else ExitStatus.MALFORMED)
        assert out == ""


@pytest.mark.parametrize("data", [
    aigif_file([Segment(SYNTAX, SYNTAX_BODY)] + [Segment(ANCILLARY | SAFE_TO_COPY | 40, b"")] * 4096),
    b"\xa1G\x10\x81" + leb128((1 << 28) + 1) + b"xx",  # declared length over MAX_SEGMENT_BYTES, body absent
], ids=["4097-segments", "segment-length-2**28+1"])
def test_container_limits_are_checked_before_allocating(tmp_path, capsys, data):
    src = tmp_path / "x.aigif"
    src.write_bytes(data)
    code, out, err = cli(capsys, "info", src)
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert out == ""


# -- files whose content the JSON form cannot carry ------------------------------------------------
def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@regression("a msgpack bin value inside an extension decodes into bytes; `info`, `info --json` and "
            "`export --format json` then die with TypeError (internal error) after printing part of "
            "the output (codec.unpack_msgpack should refuse bin, or to_dict encode it)")
@pytest.mark.parametrize("verb", [["info"], ["info", "--json"], ["export", "--format", "json"]])
def test_extension_holding_binary(tmp_path, capsys, verb):
    src = tmp_path / "bin.aigif"
    src.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY), extension_segment(3, {"a": b"\0\xff"})]))
    code, out, err = cli(capsys, *verb, src)
    if code == 0:
        if "--json" in verb or "json" in verb:
            _strict_json(out)
    else:
        assert_fails_cleanly(code, err, ExitStatus.MALFORMED)
        assert out == ""


@regression("NaN/Infinity in an extension decode fine and `info --json` / `export --format json` print "
            "them as NaN/Infinity: invalid JSON with exit 0 (reject non-finite floats at decode)")
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("verb", [["info", "--json"], ["export", "--format", "json"]])
def test_extension_holding_non_finite_float(tmp_path, capsys, value, verb):
    src = tmp_path / "nan.aigif"
    src.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY), extension_segment(12, value)]))
    code, out, err = cli(capsys, *verb, src)
    if code == 0:
        _strict_json(out)
    else:
        assert_fails_cleanly(code, err, ExitStatus.MALFORMED)


@pytest.mark.parametrize("payload", [b"\x81\xa1a" + b"\x91" * 3000 + b"\x90", b"\xdd\xff\xff\xff\xff",
                                     b"\xdf\xff\xff\xff\xff", b"\xc1", b"", b"\x01\x02"],
                         ids=["nested-3000", "array-2**32", "map-2**32", "reserved-byte", "empty", "two-objects"])
def test_extension_msgpack_bombs_and_garbage(tmp_path, capsys, payload):
    src = tmp_path / "x.aigif"
    src.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY), extension_segment(3, payload)]))
    code, out, err = cli(capsys, "info", "--json", src)
    assert_fails_cleanly(code, err, ExitStatus.MALFORMED)
