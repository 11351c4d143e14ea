"""Hostile input: every CLI verb and the public API meet missing, unreadable, truncated,
corrupt, oversized and nonsensical input with a specific aigif error and exit status
(spec §9.2) - never a traceback, an "internal error" (exit 1), a hang, a huge allocation,
an output file left behind, or a file written that AIGIF itself cannot read back.

A case that fails today because of a bug is still written as the correct assertion and
marked `xfail(strict=True, reason="BUG: ...")`: fixing the bug turns it into an XPASS,
which fails the run until the marker is removed.

Hangs and bombs run in a child process under a CPU-time or address-space rlimit, so a
regression costs a few CPU seconds and a clean failure instead of a stuck suite; the
limits are generous multiples of what correct code needs (no timing assertions).
Hostile samples are generated here, in code; nothing under tests/hostile/ is needed.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import msgpack
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import aigif
from aigif import container
from aigif.bits import leb128
from aigif.segments.syntax import encode_body
from aigif.cli.main import main
from aigif.container import ANCILLARY, EXTENSION, FIDELITY, PIXELS, RESIDUAL, SAFE_TO_COPY, SYNTAX, Segment
from aigif.errors import AigifError, ExitStatus, FileAccessError, InvalidSyntax, LimitExceeded
from aigif.syntax import Syntax

REPO = Path(__file__).resolve().parents[1]


def bug(reason: str):
    """A regression test for a bug QA found and the lead fixed; `reason` says what it was."""
    return pytest.mark.regression


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    """AIGIF_DEBUG re-raises internal errors; the user-facing behaviour is without it."""
    monkeypatch.delenv("AIGIF_DEBUG", raising=False)
    monkeypatch.delenv("AIGIF_ALLOW_DOWNLOAD", raising=False)


# -- helpers: running the CLI ---------------------------------------------------------------
def cli(capsys, *args):
    """In-process CLI run -> (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(code), captured.out, captured.err


def assert_fails_cleanly(code: int, err: str, status=None):
    """A specific aigif error: no traceback, no "internal error", the expected status
    (or, where the right one is a design choice, any status but 0 and 1)."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if status is None:
        assert code not in (ExitStatus.OK, ExitStatus.FAILURE), f"exit {code}: {err}"
    else:
        assert code == status, f"exit {code}, expected {int(status)}: {err}"
    assert err.lstrip().startswith(("aigif:", "usage:")), err


def bounded_cli(args, cwd, *, cpu_seconds=15, address_space=None):
    """The CLI in a child process with rlimits: a hang dies of SIGXCPU, a bomb of
    MemoryError, instead of stalling or swapping the machine."""

    def limit():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {k: v for k, v in os.environ.items() if k not in ("AIGIF_DEBUG", "AIGIF_ALLOW_DOWNLOAD")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-m", "aigif", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=limit, timeout=600,
    )
    return r.returncode, r.stdout, r.stderr


def killed_by_cpu_limit(returncode: int) -> bool:
    return returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU)


class CpuTimeExceeded(Exception):
    pass


class cpu_time_guard:
    """Interrupt Python code that burns more than `seconds` of CPU time (ITIMER_PROF counts
    CPU, not wall time, so a loaded machine cannot trip it): a hang detector for code that
    returns to the interpreter, not a benchmark."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        def handler(signum, frame):
            raise CpuTimeExceeded(f"over {self.seconds} s of CPU time")

        self.previous = signal.signal(signal.SIGPROF, handler)
        signal.setitimer(signal.ITIMER_PROF, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, self.previous)
        return False


def files_in(directory: Path) -> list[str]:
    """Everything in a folder, hidden temp files (.NAME.xxxx.tmp) included."""
    return sorted(p.name for p in directory.iterdir())


# -- helpers: hostile samples -----------------------------------------------------------------
def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


PNG_SIG = b"\x89PNG\r\n\x1a\n"
PARAMS = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd-1.5"


def png_ihdr(width: int, height: int) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_bytes(size=(64, 64), text: dict | None = None, mode="RGB") -> bytes:
    buf = io.BytesIO()
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.new(mode, size, (10, 20, 30)[: len(mode)] if mode != "L" else 10).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def image_bytes(fmt: str, size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buf, fmt)
    return buf.getvalue()


def text_only_png(width=64, height=64, chunks=()) -> bytes:
    """A PNG with IHDR and text chunks but no pixel data."""
    return PNG_SIG + png_ihdr(width, height) + b"".join(chunks) + png_chunk(b"IEND", b"")


def exif_amplifier(region: int, entries: int = 1024) -> bytes:
    """One TIFF IFD whose `entries` UserComment tags all point at the same `region` bytes:
    a 1 MB blob that a reader copying each tag turns into entries x region bytes."""
    data_at = 8 + 2 + 12 * entries + 4
    ifd = b"".join(struct.pack("<HHII", 0x9286, 7, region, data_at) for _ in range(entries))
    return (b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", entries) + ifd + struct.pack("<I", 0)
            + b"ASCII\0\0\0" + b"y" * (region - 8))


SYNTAX_BODY = encode_body(Syntax(prompt="x"))


def aigif_file(segments: list[Segment]) -> bytes:
    return container.pack(segments)


def ext_segment(code: int, payload, critical=True) -> Segment:
    body = payload if isinstance(payload, bytes) else msgpack.packb(payload, use_bin_type=True)
    t = EXTENSION if critical else ANCILLARY | SAFE_TO_COPY | EXTENSION
    return Segment(t, leb128(code) + body)


def pixels_file(payload: bytes, codec_id=1, fidelity: bytes | None = None) -> bytes:
    segs = []
    if fidelity is not None:
        segs.append(Segment(ANCILLARY | FIDELITY, b"\x01" + fidelity))
    segs.append(Segment(PIXELS, leb128(codec_id) + payload))
    return aigif_file(segs)


def png_with_declared_size(width: int, height: int) -> bytes:
    return PNG_SIG + png_ihdr(width, height) + png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + png_chunk(b"IEND", b"")


@pytest.fixture
def good_aigif(tmp_path) -> Path:
    """A valid pixels-only file: unpack needs no model, so these tests stay fast."""
    p = tmp_path / "good.aigif"
    p.write_bytes(pixels_file(png_bytes((8, 8))))
    return p


# =============================================================================================
# Files that are missing, are directories, or cannot be written
# =============================================================================================
@bug("read_bytes() raises the base AigifError (code E_AIGIF, exit 1 = 'a bug') for a missing "
     "file; aigif/codec.py read_bytes needs an error class with a real exit status")
@pytest.mark.parametrize("verb", [["info"], ["info", "--json"], ["export"], ["verify"], ["unpack", "-o", "OUT"]])
def test_missing_input_file_is_a_specific_error(tmp_path, capsys, verb):
    missing = tmp_path / "absent" / "x.aigif"
    args = [a if a != "OUT" else tmp_path / "o.png" for a in verb]
    code, _, err = cli(capsys, *args[:1], missing, *args[1:])
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert str(missing) in err
    assert files_in(tmp_path) == []


@bug("a directory given as the input file: read_bytes raises the base AigifError (exit 1)")
def test_directory_as_input_file(tmp_path, capsys):
    code, _, err = cli(capsys, "info", tmp_path)
    assert_fails_cleanly(code, err, ExitStatus.IO)


@pytest.mark.parametrize("content", [b"", b"\xa1", b"GIF89a", b"\xa1G\x10\x00", b"\xa1G\x20\x00\x00\x00"],
                         ids=["empty", "one-byte", "gif", "no-crc", "version-2"])
def test_empty_truncated_or_foreign_file(tmp_path, capsys, content):
    p = tmp_path / "x.aigif"
    p.write_bytes(content)
    for verb in (["info"], ["info", "--json"], ["export", "--format", "json"]):
        code, out, err = cli(capsys, *verb, p)
        assert_fails_cleanly(code, err, ExitStatus.UNSUPPORTED if content.startswith(b"\xa1G\x20") else ExitStatus.MALFORMED)
        assert out == ""


@bug("codec.write raises the base AigifError (exit 1) when the output folder does not exist")
def test_pack_output_in_missing_folder(tmp_path, capsys):
    code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", tmp_path / "absent" / "x.aigif")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == []


@bug("codec.write raises the base AigifError (exit 1) when -o names a directory")
def test_pack_output_is_a_directory(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", tmp_path / "d")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["d"] and files_in(tmp_path / "d") == []  # no temp file left beside it


@bug("write_atomic keeps mkstemp's mode 0600: every file AIGIF writes is unreadable to other "
     "users whatever the umask (aigif/codec.py write_atomic should chmod to 0666 & ~umask)")
def test_written_files_honour_the_umask(tmp_path, capsys, good_aigif):
    old = os.umask(0o022)
    try:
        assert cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", tmp_path / "a.aigif")[0] == 0
        assert cli(capsys, "unpack", good_aigif, "-o", tmp_path / "a.png")[0] == 0
    finally:
        os.umask(old)
    assert (tmp_path / "a.aigif").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("content", [None, "dir", b"\x89PNG\r\n\x1a\n\0\0", b"[1, 2]", b'"a string"', b"\xff\xfe{}"])
def test_pack_syntax_file_unreadable_or_not_an_object(tmp_path, capsys, content):
    src = tmp_path / "s.json"
    if content == "dir":
        src.mkdir()
    elif content is not None:
        src.write_bytes(content)
    code, _, err = cli(capsys, "pack", "--no-generate", "--syntax", src, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.IO if content in (None, "dir") else ExitStatus.USAGE)
    assert not (tmp_path / "o.aigif").exists()


@bug("json.load raises RecursionError (not JSONDecodeError) on deeply nested JSON: internal "
     "error; cmd_pack.syntax_dict_from_args must catch RecursionError too")
@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '{"extensions": {"hires": ' + "[" * 50_000 + "]" * 50_000 + "}}"])
def test_pack_syntax_deeply_nested_json(tmp_path, capsys, text):
    src = tmp_path / "deep.json"
    src.write_text(text)
    code, _, err = cli(capsys, "pack", "--no-generate", "--syntax", src, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert not (tmp_path / "o.aigif").exists()


# =============================================================================================
# aigif pack: absurd values and flag combinations
# =============================================================================================
@bug("decimal_parts expands the exponent before any check: '1e5000' builds a 5001-digit int and "
     "str() of it raises ValueError (internal error); '1e999999999' computes 10**999999999 (a hang "
     "of minutes, 415 MB) - aigif/syntax.py parse_guidance must bound the exponent first")
def test_pack_guidance_with_absurd_exponent(tmp_path, capsys):
    with cpu_time_guard(5):
        code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "--guidance", "1e5000", "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("args", [
    ["--steps", "0"], ["--steps", "10001"], ["--width", "0"], ["--height", "16385"], ["--seed", "-1"],
    ["--seed", str(1 << 64)], ["--guidance", "nan"], ["--guidance", "inf"], ["--guidance", "7.1234567891"],
    ["--scheduler", "no-such-sampler"], ["--prompt", "\ud800"], ["--ext", "clip_skip"], ["--ext", "=3"],
    ["--ext", "nope=1"], ["--ext", "clip_skip=abc"], ["--ext", "clip_skip=65"], ["--ext", "hires=1e999"],
    ["--steps", "abc"], ["--bogus-flag"], ["--residual"],
])
def test_pack_rejects_out_of_range_or_malformed_options(tmp_path, capsys, args):
    code, _, err = cli(capsys, "pack", "--no-generate", *args, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


@bug("non-finite numbers pass the extension validators and are written into the file; `info "
     "--json` then prints NaN/Infinity, which is not JSON (aigif/extensions.py validators)")
@pytest.mark.parametrize("ext", ["eta=NaN", "eta=Infinity", "eta=-Infinity", 'hires={"scale": NaN}',
                                 'lora=[{"name": "x", "weight": Infinity}]'])
def test_pack_rejects_non_finite_extension_numbers(tmp_path, capsys, ext):
    code, _, err = cli(capsys, "pack", "--no-generate", "--ext", ext, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


@bug("an integer outside msgpack's 64-bit range in an extension: msgpack OverflowError at encode, "
     "internal error (validate in aigif/extensions.py check_value)")
def test_pack_rejects_extension_integer_beyond_64_bits(tmp_path, capsys):
    code, _, err = cli(capsys, "pack", "--no-generate", "--ext", 'hires={"steps": 123456789012345678901234567890}',
                       "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


@bug("a 'comment' extension over MAX_EXTENSION_BYTES is written, then every reader refuses the "
     "file (E_LIMIT at decode): the writer must refuse it (Syntax.from_dict / codec.encode)")
def test_pack_refuses_extension_over_the_limit_instead_of_writing_an_unreadable_file(tmp_path, capsys):
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"prompt": "x", "extensions": {"comment": "c" * (aigif.limits.MAX_EXTENSION_BYTES + 10)}}))
    code, _, err = cli(capsys, "pack", "--no-generate", "--syntax", src, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert files_in(tmp_path) == ["s.json"]


@bug("--image is silently ignored when generation options are given with --no-generate "
     "(cmd_pack.run: reject --image without --residual when the syntax path is taken)")
def test_pack_image_with_prompt_and_no_generate_is_a_usage_error(tmp_path, capsys):
    img = tmp_path / "in.png"
    img.write_bytes(png_bytes())
    code, _, err = cli(capsys, "pack", "--no-generate", "--image", img, "--prompt", "cat", "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == ["in.png"]


@bug("--save-image is silently ignored with --no-generate (cmd_pack.run)")
def test_pack_save_image_with_no_generate_is_a_usage_error(tmp_path, capsys):
    code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "--save-image", tmp_path / "i.png",
                       "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


# -- pack --image: unreadable, truncated, bombs --------------------------------------------------
def _bad_images():
    png = png_bytes()
    return {
        "missing": None,
        "directory": "dir",
        "empty": b"",
        "text": b"hello, not an image",
        "truncated-png": png[: len(png) // 2],
        "signature-only": PNG_SIG,
        "truncated-jpeg": image_bytes("JPEG")[:40],
        "truncated-webp": image_bytes("WEBP")[:20],
    }


@bug("cmd_pack._open_image raises the base AigifError (exit 1) for unreadable images")
@pytest.mark.parametrize("name", list(_bad_images()))
def test_pack_image_unreadable(tmp_path, capsys, name):
    content = _bad_images()[name]
    img = tmp_path / "in.png"
    if content == "dir":
        img.mkdir()
    elif content is not None:
        img.write_bytes(content)
    before = files_in(tmp_path)
    code, _, err = cli(capsys, "pack", "--image", img, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.IO if name in ("missing", "directory") else None)
    assert files_in(tmp_path) == before


@bug("a decompression bomb for `pack --image` is reported as the base AigifError (exit 1), "
     "not E_LIMIT (exit 5), and Pillow's DecompressionBombWarning leaks to stderr")
@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 20_000)])
def test_pack_image_decompression_bomb(tmp_path, capsys, size):
    img = tmp_path / "bomb.png"
    img.write_bytes(png_with_declared_size(*size))
    code, _, err = cli(capsys, "pack", "--image", img, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert "Warning" not in err
    assert files_in(tmp_path) == ["bomb.png"]


@pytest.mark.parametrize("codec, status", [("nope", ExitStatus.CODEC), ("webp:101", ExitStatus.USAGE),
                                           ("png:9", ExitStatus.USAGE), ("", ExitStatus.USAGE),
                                           ("verbatim:3", ExitStatus.USAGE), ("jpeg:-1", ExitStatus.USAGE)])
def test_pack_image_bad_codec_spec(tmp_path, capsys, codec, status):
    img = tmp_path / "in.png"
    img.write_bytes(png_bytes((16, 16)))
    code, _, err = cli(capsys, "pack", "--image", img, "--codec", codec, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, status)
    assert files_in(tmp_path) == ["in.png"]


# =============================================================================================
# aigif unpack / verify
# =============================================================================================
def _bad_payload_files():
    return {
        "garbage-png": (pixels_file(b"garbage", 1), ExitStatus.CODEC),
        "png-in-jpeg-id": (pixels_file(png_bytes((8, 8)), 5), ExitStatus.CODEC),
        "unknown-codec": (pixels_file(b"x", 99), ExitStatus.CODEC),
        "reserved-codec": (pixels_file(b"x", 17), ExitStatus.CODEC),
        "verbatim-gif": (pixels_file(image_bytes("GIF"), 6), ExitStatus.CODEC),
        "nvtc-garbage": (pixels_file(b"\0" * 10, 16), ExitStatus.CODEC),
        "png-bomb": (pixels_file(png_with_declared_size(100_000, 100_000), 1), ExitStatus.LIMIT),
        "empty-pixels-segment": (aigif_file([Segment(PIXELS, b"")]), ExitStatus.MALFORMED),
        "unknown-critical-segment": (aigif_file([Segment(SYNTAX, SYNTAX_BODY), Segment(40, b"zz")]), ExitStatus.UNSUPPORTED),
        "unknown-critical-extension": (aigif_file([Segment(SYNTAX, SYNTAX_BODY), ext_segment(50, 1)]), ExitStatus.UNSUPPORTED),
        "unknown-model-id": (aigif_file([Segment(SYNTAX, encode_body(Syntax(model=987654, prompt="x")))]), ExitStatus.MODEL),
        "unknown-scheduler-id": (aigif_file([Segment(SYNTAX, encode_body(Syntax(prompt="x", scheduler=60000)))]), ExitStatus.MODEL),
        "inline-name-not-a-model": (aigif_file([Segment(SYNTAX, encode_body(Syntax(model="no such model", prompt="x")))]), ExitStatus.MODEL),
    }


@pytest.mark.parametrize("name", list(_bad_payload_files()))
def test_unpack_and_verify_corrupt_or_unsupported_file(tmp_path, capsys, name):
    data, status = _bad_payload_files()[name]
    src = tmp_path / "in.aigif"
    src.write_bytes(data)
    code, _, err = cli(capsys, "unpack", src, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, status)
    code, _, err = cli(capsys, "verify", src)
    assert_fails_cleanly(code, err, status)
    assert files_in(tmp_path) == ["in.aigif"]


def test_unpack_batch_keeps_going_and_reports_first_failure(tmp_path, capsys, good_aigif):
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a.aigif").write_bytes(good_aigif.read_bytes())
    (batch / "b.aigif").write_bytes(pixels_file(b"garbage"))
    (batch / "c.aigif").write_bytes(b"\xa1G")
    out = tmp_path / "out"
    code, _, err = cli(capsys, "unpack", batch, "-o", out)
    assert code == ExitStatus.CODEC, err  # the first failure in file order: b.aigif
    assert "Traceback" not in err and "internal error" not in err
    assert files_in(out) == ["a.png"]


@bug("the single-input unpack error is printed twice: on stdout (progress line) and stderr")
def test_unpack_single_error_is_reported_once_on_stderr(tmp_path, capsys):
    src = tmp_path / "in.aigif"
    src.write_bytes(pixels_file(b"garbage"))
    code, out, err = cli(capsys, "unpack", src, "-o", tmp_path / "o.png")
    assert code == ExitStatus.CODEC and out == ""


@bug("cmd_unpack: _save_png's OSError (missing output folder) escapes as an internal error")
def test_unpack_output_in_missing_folder(tmp_path, capsys, good_aigif):
    code, _, err = cli(capsys, "unpack", good_aigif, "-o", tmp_path / "absent" / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["good.aigif"]


@bug("cmd_unpack: -o naming an existing regular file -> mkdir FileExistsError, internal error")
@pytest.mark.parametrize("inputs", [1, 2])
def test_unpack_output_is_an_existing_file(tmp_path, capsys, good_aigif, inputs):
    target = tmp_path / "taken"
    target.write_bytes(b"keep me")
    code, _, err = cli(capsys, "unpack", *[good_aigif] * inputs, "-o", target)
    assert_fails_cleanly(code, err)
    assert target.read_bytes() == b"keep me"


@bug("unpack of several inputs with -o OUT.png silently creates a *directory* named OUT.png")
def test_unpack_several_inputs_to_a_png_path_is_a_usage_error(tmp_path, capsys, good_aigif):
    other = tmp_path / "other.aigif"
    other.write_bytes(good_aigif.read_bytes())
    code, _, err = cli(capsys, "unpack", good_aigif, other, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert not (tmp_path / "o.png").exists()


def _bad_references():
    return {
        "missing": None,
        "directory": "dir",
        "empty": b"",
        "not-an-image": b"hello",
        "bomb": png_with_declared_size(100_000, 100_000),
        "other-size": png_bytes((16, 16)),
    }


@bug("--reference problems: base AigifError (exit 1) or internal error (DecompressionBombError, "
     "ValueError on a size mismatch), and the output PNG is written *before* the reference is "
     "checked, so a failed command leaves it behind (cmd_unpack.run / compare_with_reference)")
@pytest.mark.parametrize("name", list(_bad_references()))
def test_unpack_bad_reference(tmp_path, capsys, good_aigif, name):
    content = _bad_references()[name]
    ref = tmp_path / "ref.png"
    if content == "dir":
        ref.mkdir()
    elif content is not None:
        ref.write_bytes(content)
    before = files_in(tmp_path)
    code, _, err = cli(capsys, "unpack", good_aigif, "-o", tmp_path / "o.png", "--reference", ref)
    assert_fails_cleanly(code, err, ExitStatus.IO if name in ("missing", "directory") else None)
    assert files_in(tmp_path) == before


def test_verify_mismatch_and_missing_fidelity(tmp_path, capsys):
    wrong = tmp_path / "wrong.aigif"
    wrong.write_bytes(pixels_file(png_bytes((8, 8)), fidelity=b"\0" * 8))
    none = tmp_path / "none.aigif"
    none.write_bytes(pixels_file(png_bytes((8, 8))))
    for f in (wrong, none):
        code, _, err = cli(capsys, "verify", f)
        assert_fails_cleanly(code, err, ExitStatus.DIFFERS)


# =============================================================================================
# aigif info / export: files whose content the JSON form cannot carry
# =============================================================================================
def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@bug("a msgpack bin value inside an extension decodes into bytes; `info`, `info --json` and "
     "`export --format json` then die with TypeError (internal error) after printing part of "
     "the output (codec.unpack_msgpack should refuse bin, or to_dict encode it)")
@pytest.mark.parametrize("verb", [["info"], ["info", "--json"], ["export", "--format", "json"]])
def test_extension_holding_binary(tmp_path, capsys, verb):
    src = tmp_path / "bin.aigif"
    src.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY), ext_segment(3, {"a": b"\0\xff"})]))
    code, out, err = cli(capsys, *verb, src)
    if code == 0:
        if "--json" in verb or "json" in verb:
            _strict_json(out)
    else:
        assert_fails_cleanly(code, err, ExitStatus.MALFORMED)
        assert out == ""


@bug("NaN/Infinity in an extension decode fine and `info --json` / `export --format json` print "
     "them as NaN/Infinity: invalid JSON with exit 0 (reject non-finite floats at decode)")
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("verb", [["info", "--json"], ["export", "--format", "json"]])
def test_extension_holding_non_finite_float(tmp_path, capsys, value, verb):
    src = tmp_path / "nan.aigif"
    src.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY), ext_segment(12, value)]))
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
    src.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY), ext_segment(3, payload)]))
    code, out, err = cli(capsys, "info", "--json", src)
    assert_fails_cleanly(code, err, ExitStatus.MALFORMED)


@bug("export of a pixels-only file (no SYNTAX segment) invents generation parameters "
     "(tiny-sd defaults) and exits 0; it has no generation syntax to export")
@pytest.mark.parametrize("fmt", ["a1111", "comfyui"])
def test_export_pixels_only_file_has_nothing_to_export(tmp_path, capsys, good_aigif, fmt):
    code, out, err = cli(capsys, "export", good_aigif, "--format", fmt)
    assert_fails_cleanly(code, err)
    assert out == ""


@bug("export --embed: write_atomic's OSError (missing output folder) escapes as an internal error")
def test_export_embed_output_in_missing_folder(tmp_path, capsys):
    src = tmp_path / "s.aigif"
    assert cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", src)[0] == 0
    png = tmp_path / "in.png"
    png.write_bytes(png_bytes((8, 8)))
    code, _, err = cli(capsys, "export", src, "--embed", png, "-o", tmp_path / "absent" / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["in.png", "s.aigif"]


@pytest.mark.parametrize("content, status", [(None, ExitStatus.IO), (b"", ExitStatus.UNSUPPORTED),
                                             (image_bytes("JPEG"), ExitStatus.UNSUPPORTED),
                                             (png_bytes((8, 8))[:30], ExitStatus.MALFORMED),
                                             (PNG_SIG + png_chunk(b"IEND", b""), ExitStatus.MALFORMED)],
                         ids=["missing", "empty", "jpeg", "truncated-png", "png-without-ihdr"])
def test_export_embed_into_bad_image(tmp_path, capsys, content, status):
    src = tmp_path / "s.aigif"
    assert cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", src)[0] == 0
    img = tmp_path / "in.png"
    if content is not None:
        img.write_bytes(content)
    before = files_in(tmp_path)
    code, _, err = cli(capsys, "export", src, "--embed", img, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, status)
    assert files_in(tmp_path) == before


# =============================================================================================
# aigif import
# =============================================================================================
@functools.lru_cache(maxsize=None)
def _import_cases():
    png = png_bytes(text={"parameters": PARAMS})
    bomb = zlib.compress(b"a" * (64 << 20), 9)
    return {
        "empty": (b"", ExitStatus.MALFORMED),
        "text": (b"not an image at all", ExitStatus.MALFORMED),
        "gif": (image_bytes("GIF"), ExitStatus.MALFORMED),
        "signature-only": (PNG_SIG, ExitStatus.MALFORMED),
        "no-ihdr": (PNG_SIG + png_chunk(b"tEXt", b"parameters\0" + PARAMS.encode()) + png_chunk(b"IEND", b""), ExitStatus.MALFORMED),
        "truncated-before-text": (png_bytes()[:60], ExitStatus.NO_METADATA),
        "jpeg-soi-only": (b"\xff\xd8", ExitStatus.NO_METADATA),
        "jpeg-zero-length-segment": (b"\xff\xd8\xff\xe1\x00\x00", ExitStatus.NO_METADATA),
        "riff-only": (b"RIFF\xff\xff\xff\xffWEBP", ExitStatus.NO_METADATA),
        "webp-chunk-past-end": (b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\xffII*\0", ExitStatus.NO_METADATA),
        "ztxt-bomb": (text_only_png(chunks=[png_chunk(b"zTXt", b"parameters\0\0" + bomb)]), ExitStatus.LIMIT),
        "itxt-bomb": (text_only_png(chunks=[png_chunk(b"iTXt", b"parameters\0\1\0\0\0" + bomb)]), ExitStatus.LIMIT),
        "ztxt-corrupt": (text_only_png(chunks=[png_chunk(b"zTXt", b"parameters\0\0notzlib")]), ExitStatus.NO_METADATA),
        "many-chunks": (text_only_png(chunks=[png_chunk(b"abCD", b"")] * 70_000), ExitStatus.LIMIT),
        "exif-ifd-loop": (text_only_png(chunks=[png_chunk(b"eXIf", b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", 1)
                                                          + struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8))]),
                          ExitStatus.NO_METADATA),
        "truncated-after-text": (png[: len(png) - 30], None),  # the text survives the cut: imported
    }


@pytest.mark.parametrize("name", list(_import_cases()))
def test_import_hostile_images(tmp_path, capsys, name):
    data, status = _import_cases()[name]
    src = tmp_path / "in.png"
    src.write_bytes(data)
    code, _, err = cli(capsys, "import", src, "-o", tmp_path / "o.aigif")
    if status is None:
        assert code == 0, err
        aigif.read(tmp_path / "o.aigif")
        return
    assert_fails_cleanly(code, err, status)
    assert files_in(tmp_path) == ["in.png"]


def test_import_missing_file_and_empty_folder(tmp_path, capsys):
    code, _, err = cli(capsys, "import", tmp_path / "absent.png")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    (tmp_path / "empty").mkdir()
    code, _, err = cli(capsys, "import", tmp_path / "empty")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)


@bug("an OSError while *writing* the output is reported as E_FORMAT naming the *source* image "
     "(importers/batch.import_one wraps every OSError as 'E_IO: <source>')")
def test_import_output_in_missing_folder_names_the_output(tmp_path, capsys):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(text={"parameters": PARAMS}))
    out = tmp_path / "absent" / "o.aigif"
    code, _, err = cli(capsys, "import", src, "-o", out)
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert str(out.parent) in err
    assert files_in(tmp_path) == ["in.png"]


@bug("import of several files with -o naming an existing regular file: mkdir FileExistsError, "
     "internal error (cmd_import.run)")
def test_import_several_files_into_an_existing_file(tmp_path, capsys):
    for n in ("a.png", "b.png"):
        (tmp_path / n).write_bytes(png_bytes(text={"parameters": PARAMS}))
    (tmp_path / "taken").write_bytes(b"keep me")
    code, _, err = cli(capsys, "import", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "taken", "-j", "1")
    assert_fails_cleanly(code, err)
    assert (tmp_path / "taken").read_bytes() == b"keep me"


@bug("import --keep-pixels stores the image bytes without checking they decode "
     "(importers/batch.build_syntax should use aigif_codecs.encode_verbatim): the .aigif it "
     "writes can never be unpacked (E_CODEC / E_LIMIT)")
@pytest.mark.parametrize("size", [(64, 64), (0x7FFFFFFF, 0x7FFFFFFF)])
def test_import_keep_pixels_never_writes_an_undecodable_payload(tmp_path, capsys, size):
    src = tmp_path / "in.png"
    src.write_bytes(text_only_png(*size, chunks=[png_chunk(b"tEXt", b"parameters\0" + PARAMS.encode())]))
    code, _, err = cli(capsys, "import", src, "--keep-pixels", "-o", tmp_path / "o.aigif")
    if code != 0:
        assert_fails_cleanly(code, err)
        assert files_in(tmp_path) == ["in.png"]
        return
    syntax = aigif.read(tmp_path / "o.aigif")
    pixels = [p for p in syntax.payloads if p.kind == "pixels"]
    import aigif_codecs

    for p in pixels:
        aigif_codecs.decode(p.codec_id, p.data, max_pixels=aigif.limits.MAX_PIXELS)


@bug("the A1111 key-value regex (importers/tools/a1111.py RE_PARAM in looks_like_infotext) is "
     "quadratic: a 150 kB one-word 'parameters' text takes minutes (ReDoS); 1 MiB takes hours")
def test_import_a1111_regex_is_not_quadratic(tmp_path):
    src = tmp_path / "redos.png"
    src.write_bytes(text_only_png(chunks=[png_chunk(b"tEXt", b"parameters\0" + b"y" * 150_000)]))
    code, _, err = bounded_cli(["import", src, "-o", tmp_path / "o.aigif"], tmp_path, cpu_seconds=4)
    assert not killed_by_cpu_limit(code), "import hangs on a long one-word parameters text"
    assert_fails_cleanly(code, err, ExitStatus.NO_METADATA)


@bug("EXIF amplification: 1024 IFD entries pointing at one 1 MiB UserComment become 1024 "
     "copies (1 GiB) - no total cap in importers/containers/exif.py (PNG text has MAX_TEXT_TOTAL)")
def test_import_exif_amplification_is_bounded(tmp_path):
    # the same works in JPEG with many 64 KiB APP1 segments (2.5 MB file -> ~1 GB)
    data = text_only_png(chunks=[png_chunk(b"eXIf", exif_amplifier(1 << 20))])
    src = tmp_path / "amp.png"
    src.write_bytes(data)
    code, _, err = bounded_cli(["import", src, "-o", tmp_path / "o.aigif"], tmp_path,
                               cpu_seconds=10, address_space=1 << 30)
    assert not killed_by_cpu_limit(code), "import of an EXIF amplifier hangs"
    assert code in (ExitStatus.LIMIT, ExitStatus.NO_METADATA), err[-500:]
    assert "Traceback" not in err and "internal error" not in err


# =============================================================================================
# aigif registry
# =============================================================================================
@bug("`aigif registry` without an action: AttributeError 'json' (internal error); "
     "cmd_registry.run defaults to list but the namespace has no --json")
def test_registry_without_action(capsys):
    code, out, err = cli(capsys, "registry")
    assert code == 0, err
    assert "tiny-sd" in out


def _pipeline_folder(tmp_path, index: str | None) -> Path:
    d = tmp_path / "pipe"
    d.mkdir()
    if index is not None:
        (d / "model_index.json").write_text(index)
    return d


@pytest.mark.parametrize("index", [None, "{{{", "{}", '{"_class_name": 5}'])
def test_registry_add_bad_pipeline_folder(tmp_path, capsys, index):
    folder = _pipeline_folder(tmp_path, index)
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)
    assert cli(capsys, "registry", "show", "mine")[0] == ExitStatus.MODEL


@bug("registry add: model_index.json holding a JSON array -> TypeError, internal error "
     "(cmd_registry._add catches only ValueError/KeyError)")
@pytest.mark.parametrize("index", ["[1, 2]", '"text"', "null"])
def test_registry_add_model_index_not_an_object(tmp_path, capsys, index):
    folder = _pipeline_folder(tmp_path, index)
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@pytest.mark.parametrize("args", [
    ["--scheduler", "nope"], ["--id", "5"], ["--id", "-1"], ["--id", str(1 << 70)], ["--width", "-64"],
    ["--guidance", "abc"], ["--alias", "sd-1.5"],
])
def test_registry_add_bad_values(tmp_path, capsys, args):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder, *args)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)
    assert cli(capsys, "registry", "show", "mine")[0] == ExitStatus.MODEL


@bug("registry add accepts --guidance 1e999999999 (and then every `aigif info` of a file using "
     "that model hangs in decimal_parts); --steps/--width 0 are silently replaced by defaults; "
     "--repo takes any string (registry.validate_model / cmd_registry._add)")
@pytest.mark.parametrize("args", [["--guidance", "1e999999999"], ["--steps", "0"],
                                  ["--width", "0"]])
def test_registry_add_absurd_defaults(tmp_path, capsys, args):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", "mine", "--path", folder, *args)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@bug("registry add --repo accepts strings that are not Hugging Face repo ids")
@pytest.mark.parametrize("repo", ["not a repo", "", "a/b/c", "../x"])
def test_registry_add_bad_repo_id(capsys, repo):
    code, _, err = cli(capsys, "registry", "add", "mine", "--repo", repo)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@pytest.mark.parametrize("name", ["", "a/b", "../../evil", "UPPER", "sd-1.5", ".x", "a b"])
def test_registry_add_bad_or_taken_name(tmp_path, capsys, name):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", name, "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@bug("registry add: a name of thousands of characters passes the name pattern, then the entry's "
     "file name is too long (OSError ENAMETOOLONG, internal error); validate_model needs a length cap")
def test_registry_add_name_too_long_for_a_file_name(tmp_path, capsys):
    folder = _pipeline_folder(tmp_path, '{"_class_name": "StableDiffusionPipeline"}')
    code, _, err = cli(capsys, "registry", "add", "x" * 5000, "--path", folder)
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@bug("one invalid user entry (hand-edited, or written by an older aigif) makes every command that "
     "loads the registry fail with E_REGISTRY - info, pack, import, even `registry remove`, so the "
     "CLI cannot repair it (registry.load_models: skip a bad *user* entry with a warning)")
@pytest.mark.parametrize("content", ["[[[ not toml", 'id = 1048577\nname = "x"\n'], ids=["not-toml", "incomplete-entry"])
def test_one_bad_user_registry_entry_does_not_disable_the_cli(tmp_path, capsys, good_aigif, content):
    from aigif.registry import reset_registry, user_dir

    models = user_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "1048577-x.toml").write_text(content)
    reset_registry()
    code, out, err = cli(capsys, "info", "--json", good_aigif)
    assert code == 0, err
    code, out, err = cli(capsys, "registry", "list")
    assert code == 0 and "tiny-sd" in out, err


@pytest.mark.parametrize("action", [["show"], ["remove"], ["verify"]])
def test_registry_unknown_model(capsys, action):
    code, _, err = cli(capsys, "registry", *action, "no-such-model")
    assert_fails_cleanly(code, err, ExitStatus.MODEL)


def test_registry_remove_builtin(capsys):
    code, _, err = cli(capsys, "registry", "remove", "sd-1.5")
    assert_fails_cleanly(code, err, ExitStatus.REGISTRY)


@bug("registry verify imports compare_fingerprints, which aigif/diffusion/weights.py does not "
     "define (it has check_fingerprints): reported as E_EXTRA 'pip install aigif[generate]' "
     "although torch is installed")
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch (generate extra)")
def test_registry_verify_is_not_a_missing_extra_when_torch_is_installed(capsys):
    code, _, err = cli(capsys, "registry", "verify", "tiny-sd")
    assert code != ExitStatus.MISSING_EXTRA, err
    assert "internal error" not in err


# =============================================================================================
# Streams and devices given as files, oversized files, batch name collisions
# =============================================================================================
@bug("a character device or FIFO given as an input file is read without bound (Path.read_bytes / "
     "json.load): /dev/zero exhausts memory -> MemoryError, internal error (importers.import_image, "
     "cmd_pack.syntax_dict_from_args, exporters/embed.embed_a1111: refuse non-regular files or "
     "read at most limit+1 bytes)")
@pytest.mark.parametrize("args", [
    ["import", "/dev/zero", "-o", "z.aigif"],
    ["pack", "--no-generate", "--syntax", "/dev/zero", "-o", "z.aigif"],
    ["export", "GOOD", "--embed", "/dev/zero", "-o", "z.png"],
])
def test_device_as_input_file_is_bounded(tmp_path, args):
    if not Path("/dev/zero").exists():
        pytest.skip("needs /dev/zero")
    good = tmp_path / "good.aigif"
    good.write_bytes(aigif_file([Segment(SYNTAX, SYNTAX_BODY)]))
    args = [str(good) if a == "GOOD" else a for a in args]
    code, _, err = bounded_cli(args, tmp_path, cpu_seconds=10, address_space=1 << 30)
    assert not killed_by_cpu_limit(code)
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["good.aigif"]


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


def test_files_over_the_size_limits_are_refused_before_reading(tmp_path, capsys, monkeypatch):
    import aigif.importers

    src = tmp_path / "big.aigif"
    src.write_bytes(aigif_file([Segment(SYNTAX, encode_body(Syntax(prompt="a red fox in the snow")))]))
    monkeypatch.setattr(aigif.limits, "MAX_FILE_BYTES", src.stat().st_size - 1)
    code, _, err = cli(capsys, "info", src)
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    img = tmp_path / "big.png"
    img.write_bytes(png_bytes(text={"parameters": PARAMS}))
    monkeypatch.setattr(aigif.limits, "MAX_IMAGE_FILE_BYTES", 100)
    code, _, err = cli(capsys, "import", img, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert not (tmp_path / "o.aigif").exists()


@bug("unpack of a folder: a/x.aigif and b/x.aigif both go to OUT/x.png - the second silently "
     "overwrites the first (cmd_unpack.run: keep the relative path or refuse the collision)")
def test_unpack_batch_never_overwrites_its_own_outputs(tmp_path, capsys):
    src = tmp_path / "in"
    for sub, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (src / sub).mkdir(parents=True)
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), colour).save(buf, "PNG")
        (src / sub / "x.aigif").write_bytes(pixels_file(buf.getvalue()))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "unpack", src, "-o", out)
    written = [Image.open(p).convert("RGB").getpixel((0, 0)) for p in sorted(out.rglob("*.png"))]
    if code == 0:
        assert sorted(written) == [(0, 0, 255), (255, 0, 0)]  # both images kept
    else:
        assert_fails_cleanly(code, err)


@bug("import of a folder holding x.png and x.jpg writes both to OUT/x.aigif: the second silently "
     "overwrites the first (cmd_import._output_for)")
def test_import_batch_never_overwrites_its_own_outputs(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.png").write_bytes(png_bytes(text={"parameters": PARAMS.replace("Seed: 1", "Seed: 111")}))
    (src / "x.webp").write_bytes(text_only_png(chunks=[png_chunk(b"tEXt", b"parameters\0" + PARAMS.replace("Seed: 1", "Seed: 222").encode())]))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "import", src, "-o", out, "-j", "1")
    seeds = sorted(aigif.read(p).seed for p in out.rglob("*.aigif"))
    if code == 0:
        assert seeds == [111, 222]
    else:
        assert_fails_cleanly(code, err)


# =============================================================================================
# The Python API
# =============================================================================================
def _from_dict_then_round_trip(d):
    """The contract for Syntax.from_dict: an AigifError, or a Syntax that encodes into a file
    that AIGIF reads back (a writer never produces a file its own reader refuses)."""
    try:
        s = aigif.from_dict(d)
    except AigifError:
        return "refused"
    data = aigif.encode(s)
    aigif.decode(data)
    return "written"


REFUSED = [
    # (case id, JSON form, expected error class) - all behave today
    ("not-an-object", [], InvalidSyntax),
    ("string", "x", InvalidSyntax),
    ("unknown-key", {"prompt": "x", "colour": 1}, InvalidSyntax),
    ("prompt-int", {"prompt": 5}, InvalidSyntax),
    ("negative-int", {"negative_prompt": 5}, InvalidSyntax),
    ("prompt-surrogate", {"prompt": "\ud800"}, AigifError),
    ("prompt-over-limit", {"prompt": "x" * (aigif.limits.MAX_TEXT_BYTES + 1)}, LimitExceeded),
    ("seed-nan", {"seed": float("nan")}, InvalidSyntax),
    ("seed-inf", {"seed": float("inf")}, InvalidSyntax),
    ("seed-str", {"seed": "5"}, InvalidSyntax),
    ("seed-negative", {"seed": -1}, InvalidSyntax),
    ("seed-65-bits", {"seed": 1 << 64}, InvalidSyntax),
    ("seed-1e300", {"seed": 1e300}, InvalidSyntax),
    ("seed-bool", {"seed": True}, InvalidSyntax),
    ("steps-zero", {"steps": 0}, InvalidSyntax),
    ("steps-fraction", {"steps": 2.5}, InvalidSyntax),
    ("width-inf", {"width": float("inf")}, InvalidSyntax),
    ("size-over-limit", {"width": 16385}, InvalidSyntax),
    ("guidance-nan", {"guidance": float("nan")}, InvalidSyntax),
    ("guidance-inf-str", {"guidance": "inf"}, InvalidSyntax),
    ("guidance-word", {"guidance": "abc"}, InvalidSyntax),
    ("guidance-list", {"guidance": [7]}, InvalidSyntax),
    ("guidance-bool", {"guidance": True}, InvalidSyntax),
    ("guidance-30-digits", {"guidance": 10**30}, InvalidSyntax),
    ("scheduler-bool", {"scheduler": True}, InvalidSyntax),
    ("scheduler-zero", {"scheduler": 0}, InvalidSyntax),
    ("scheduler-float", {"scheduler": 1.0}, InvalidSyntax),
    ("scheduler-unknown-name", {"scheduler": "nope"}, InvalidSyntax),
    ("model-zero", {"model": 0}, InvalidSyntax),
    ("model-negative", {"model": -1}, InvalidSyntax),
    ("model-2**40", {"model": 1 << 40}, InvalidSyntax),
    ("model-float", {"model": 1.5}, InvalidSyntax),
    ("model-empty", {"model": ""}, InvalidSyntax),
    ("model-name-over-limit", {"model": "m" * 1025}, InvalidSyntax),
    ("model-object-no-name", {"model": {}}, InvalidSyntax),
    ("model-fingerprint-not-hex", {"model": {"name": "sd-1.5", "fingerprint": "zz"}}, InvalidSyntax),
    ("model-fingerprint-int", {"model": {"name": "sd-1.5", "fingerprint": 5}}, InvalidSyntax),
    ("model-fingerprint-33-bytes", {"model": {"name": "sd-1.5", "fingerprint": "00" * 33}}, InvalidSyntax),
    ("model-name-object", {"model": {"name": {"a": 1}}}, InvalidSyntax),
    ("model-surrogate", {"model": "\ud800"}, InvalidSyntax),
    ("platform-list", {"platform": []}, InvalidSyntax),
    ("platform-unknown-key", {"platform": {"x": 1}}, InvalidSyntax),
    ("platform-device-list", {"platform": {"device": []}}, InvalidSyntax),
    ("platform-threads-str", {"platform": {"threads": "4"}}, InvalidSyntax),
    ("platform-threads-bool", {"platform": {"threads": True}}, InvalidSyntax),
    ("platform-torch-int", {"platform": {"torch": 5}}, InvalidSyntax),
    ("platform-string-over-255", {"platform": {"torch": "t" * 256}}, InvalidSyntax),
    ("extensions-list", {"extensions": []}, InvalidSyntax),
    ("extension-unknown", {"extensions": {"nope": 1}}, InvalidSyntax),
    ("clip-skip-str", {"extensions": {"clip_skip": "2"}}, InvalidSyntax),
    ("clip-skip-bool", {"extensions": {"clip_skip": True}}, InvalidSyntax),
    ("lora-name-int", {"extensions": {"lora": [{"name": 1}]}}, InvalidSyntax),
    ("lora-not-list", {"extensions": {"lora": {"name": "x"}}}, InvalidSyntax),
    ("fidelity-str", {"fidelity": "x"}, InvalidSyntax),
    ("fidelity-method-nan", {"fidelity": {"method": float("nan"), "digest": "00"}}, InvalidSyntax),
    ("fidelity-digest-int", {"fidelity": {"method": 1, "digest": 5}}, InvalidSyntax),
    ("payloads-object", {"payloads": {"a": 1}}, InvalidSyntax),
    ("payloads-str", {"payloads": "abc"}, InvalidSyntax),
    ("payload-data-int", {"payloads": [{"kind": "pixels", "codec": 1, "data": 5}]}, InvalidSyntax),
]


@pytest.mark.parametrize("name, d, error", REFUSED, ids=[c[0] for c in REFUSED])
def test_syntax_from_dict_refuses(name, d, error):
    with pytest.raises(error):
        aigif.from_dict(d)


FROM_DICT_BUGS = [
    # (case id, JSON form, why it fails today): each must be refused with an AigifError or
    # written into a file that AIGIF reads back
    ("extension-int-key", {"extensions": {5: 1}}, "AttributeError: 'int' has no startswith"),
    ("raw-extension-bad-hex", {"extensions": {"ext-200": {"msgpack": "zz"}}}, "ValueError from bytes.fromhex"),
    ("raw-extension-unicode-digit", {"extensions": {"ext-\u00b2": {"msgpack": "c0"}}}, "ValueError: str.isdigit accepts superscript two"),
    ("raw-extension-known-code", {"extensions": {"ext-2": {"msgpack": "02"}}}, "written as ancillary raw code 2, unreadable (E_SEGMENT)"),
    ("raw-extension-code-over-3-bytes", {"extensions": {"ext-99999999999": {"msgpack": "c0"}}}, "written, unreadable (E_FIELD)"),
    ("extension-int-beyond-64-bits", {"extensions": {"hires": {"a": 1 << 70}}}, "msgpack OverflowError at encode"),
    ("extension-surrogate-value", {"extensions": {"hires": {"a": "\ud800"}}}, "UnicodeEncodeError at encode"),
    ("extension-surrogate-key", {"extensions": {"hires": {"\ud800": 1}}}, "UnicodeEncodeError at encode"),
    ("extension-non-string-map-key", {"extensions": {"hires": {1: 1}}}, "written, unreadable (strict_map_key, E_FIELD)"),
    ("extension-set", {"extensions": {"hires": {"a": {1, 2}}}}, "msgpack TypeError at encode"),
    ("extension-over-limit", {"extensions": {"comment": "c" * ((1 << 20) + 10)}}, "written, unreadable (E_LIMIT)"),
    ("fidelity-method-inf", {"fidelity": {"method": float("inf"), "digest": "00"}}, "OverflowError from int(inf)"),
    ("fidelity-method-300", {"fidelity": {"method": 300, "digest": "00"}}, "ValueError at encode (bytes([300]))"),
    ("fidelity-method-negative", {"fidelity": {"method": -1, "digest": "00"}}, "ValueError at encode"),
    ("fidelity-empty-digest", {"fidelity": {"method": 1, "digest": ""}}, "written, unreadable (E_FIELD)"),
    ("fidelity-40-byte-digest", {"fidelity": {"method": 1, "digest": "00" * 40}}, "written, unreadable (E_FIELD)"),
    ("payloads-int", {"payloads": 5}, "TypeError: int is not iterable"),
    ("payload-codec-negative", {"payloads": [{"kind": "pixels", "codec": -1, "data": ""}]}, "ValueError from leb128 at encode"),
    ("payload-codec-inf", {"payloads": [{"kind": "pixels", "codec": float("inf"), "data": ""}]}, "OverflowError from int(inf)"),
    ("payload-codec-2**40", {"payloads": [{"kind": "pixels", "codec": 1 << 40, "data": ""}]}, "written, unreadable (E_FIELD)"),
    ("two-critical-pixels", {"payloads": [{"kind": "pixels", "codec": 1, "data": "AA=="}] * 2}, "written, unreadable (E_SEGMENT)"),
    ("ancillary-residual", {"prompt": "x", "payloads": [{"kind": "residual", "codec": 32, "data": "", "critical": False}]}, "written, unreadable (E_SEGMENT)"),
]


@pytest.mark.parametrize(
    "d", [pytest.param(d, id=name, marks=bug(f"Syntax.from_dict/encode: {why}")) for name, d, why in FROM_DICT_BUGS]
)
def test_syntax_from_dict_refuses_or_round_trips(d):
    assert _from_dict_then_round_trip(d) in ("refused", "written")


FROM_DICT_COERCION_BUGS = [
    # (case id, JSON form, what is silently accepted today): each must be refused
    ("prompt-list", {"prompt": []}, "a falsy non-string prompt ([], 0, false) is taken as ''"),
    ("prompt-false", {"prompt": False}, "a falsy non-string prompt is taken as ''"),
    ("prompt-zero", {"prompt": 0}, "a falsy non-string prompt is taken as ''"),
    ("extension-nan", {"extensions": {"eta": float("nan")}}, "NaN is accepted although the JSON form cannot carry it"),
    ("extension-inf-in-object", {"extensions": {"hires": {"scale": float("inf")}}}, "Infinity is accepted"),
    ("payload-kind-unknown", {"payloads": [{"kind": "bogus", "codec": 1, "data": "AA=="}]}, "any kind is stored as a RESIDUAL"),
    ("payload-data-not-base64", {"payloads": [{"kind": "pixels", "codec": 1, "data": "!!!"}]}, "b64decode without validate=True drops the garbage"),
]


@pytest.mark.parametrize(
    "d", [pytest.param(d, id=name, marks=bug(f"Syntax.from_dict: {why}")) for name, d, why in FROM_DICT_COERCION_BUGS]
)
def test_syntax_from_dict_refuses_wrong_types_instead_of_coercing(d):
    with pytest.raises(AigifError):
        aigif.encode(aigif.from_dict(d))


@bug("Syntax.from_dict: decimal_parts expands the exponent (ValueError for 1e5000, a 10**8-step "
     "loop for 0E-99999999, minutes for 1e999999999) - bound the exponent in parse_guidance first")
@pytest.mark.parametrize("guidance", ["1e5000", "0E-99999999", "-0e+5000"])
def test_syntax_from_dict_guidance_exponent(guidance):
    with cpu_time_guard(3):
        with pytest.raises(InvalidSyntax):
            aigif.from_dict({"guidance": guidance})


def test_decode_never_raises_anything_but_aigif_errors_for_crafted_segments():
    """Hand-crafted files with valid framing and CRC, so the segment parsers are reached."""
    crafted = [
        [Segment(SYNTAX, b"")],
        [Segment(SYNTAX, b"\xff" * 40)],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(SYNTAX, SYNTAX_BODY)],
        [Segment(SYNTAX | ANCILLARY, SYNTAX_BODY)],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | FIDELITY, b"")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | FIDELITY, b"\x01" + b"\0" * 40)],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | 2, b"\x09\x09\x09\x04")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(ANCILLARY | 2, b"\x01\x01\x01\x02\xff\xff\xff\xff")],
        [Segment(SYNTAX, SYNTAX_BODY), ext_segment(2, 2, critical=False)],
        [Segment(SYNTAX, SYNTAX_BODY), ext_segment(2, 99)],
        [Segment(SYNTAX, SYNTAX_BODY), ext_segment(1, [{"name": 5}])],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(EXTENSION, b"\xff\xff\xff\xff")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(RESIDUAL | ANCILLARY, b"\x20")],
        [Segment(RESIDUAL, b"\x20")],
        [Segment(SYNTAX, SYNTAX_BODY), Segment(PIXELS, b"\x01"), ext_segment(2, 2)],
        [Segment(PIXELS | SAFE_TO_COPY, b"\x01")],
    ]
    for segs in crafted:
        with pytest.raises(AigifError):
            aigif.decode(aigif_file(segs))


@pytest.mark.parametrize("codec_id, data, max_pixels, error", [
    (1, b"garbage", 1 << 28, "E_CODEC"),
    (1, b"", 1 << 28, "E_CODEC"),
    (1, "not bytes", 1 << 28, "E_CODEC"),
    (1, None, 1 << 28, "E_CODEC"),
    (1, png_with_declared_size(100_000, 100_000), 1 << 28, "E_LIMIT"),
    (1, png_with_declared_size(0, 0), 1 << 28, "E_CODEC"),
    (1, png_bytes((8, 8)), 10, "E_LIMIT"),
    (5, png_bytes((8, 8)), 1 << 28, "E_CODEC"),
    (2, image_bytes("WEBP")[:20], 1 << 28, "E_CODEC"),
    (5, image_bytes("JPEG")[:100], 1 << 28, "E_CODEC"),
    (6, image_bytes("GIF"), 1 << 28, "E_CODEC"),
    (6, image_bytes("TIFF"), 1 << 28, "E_CODEC"),
    (16, b"", 1 << 28, "E_CODEC"),
    (16, b"\xff" * 64, 1 << 28, "E_LIMIT"),
    (17, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
    (99, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
    (-1, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
    (1 << 70, b"x", 1 << 28, "E_CODEC_UNKNOWN"),
])
def test_codecs_decode_hostile_payloads(codec_id, data, max_pixels, error):
    import aigif_codecs

    with pytest.raises(AigifError) as e:
        aigif_codecs.decode(codec_id, data, max_pixels=max_pixels)
    assert e.value.code == error


def test_codecs_decode_refuses_animation():
    import aigif_codecs

    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(AigifError) as e:
        aigif_codecs.decode(1, buf.getvalue(), max_pixels=1 << 28)
    assert e.value.code == "E_CODEC"


@pytest.mark.parametrize("codec_id, data, error", [
    (1, b"\x01\x02\x08\x08", "E_CODEC_UNKNOWN"),
    (32, b"", "E_CODEC"),
    (32, b"\x02\x02\x08\x08", "E_CODEC"),
    (32, b"\x01\x02" + leb128(16) + leb128(16), "E_CODEC"),
    (32, b"\x01\x02" + leb128((1 << 21) - 1) + leb128((1 << 21) - 1), "E_LIMIT"),
    (32, b"\x01\x02\x00\x00", "E_CODEC"),
    (32, b"\x01\x02\x08\x08\x00", "E_CODEC"),
    (32, b"\x01\x02\x08\x08" + bytes([1, 0, 0]), "E_CODEC"),
    (32, b"\x01\x02\x08\x08" + bytes([0, 0, 0]) + b"\0", "E_CODEC"),
    (32, b"\x01\x02\x08\x08" + bytes([2, 0, 0]) + b"\xff" * 13, "E_CODEC"),
    (32, b"\x01\x02\x08\x08\xff\xff\xff", "E_CODEC"),
    (32, b"\x01\x02\x88\x80\x80\x80\x00\x08", "E_CODEC"),
])
def test_residual_apply_hostile_payloads(codec_id, data, error):
    from aigif import coset

    with pytest.raises(AigifError) as e:
        coset.apply(codec_id, data, Image.new("RGB", (8, 8)))
    assert e.value.code == error


@pytest.mark.parametrize("name", [n for n, (_, s) in _import_cases().items() if s is not None])
def test_import_image_api_raises_only_aigif_errors(name):
    from aigif.importers import import_image

    data, status = _import_cases()[name]
    with pytest.raises(AigifError) as e:
        import_image(data)
    assert e.value.exit_status == status


def test_import_image_api_on_missing_file_and_directory(tmp_path):
    from aigif.importers import import_image

    for path in (tmp_path / "absent.png", tmp_path):
        with pytest.raises(FileAccessError):
            import_image(path)


def test_import_image_api_pathological_metadata_text():
    """Deeply nested JSON, huge numbers and broken infotext in the fields each tool parser
    reads: an import or a clean aigif error, and what is imported encodes and decodes."""
    from aigif.importers import import_image
    from aigif.importers.batch import build_syntax

    n = 3000
    values = [
        "[" * n + "]" * n,
        '{"a":' * n + "1" + "}" * n,
        '{"prompt": "x", "num_inference_steps": NaN, "guidance_scale": Infinity, "seed": 1e400}',
        '{"prompt": "x", "num_inference_steps": 1' + "0" * 5000 + ', "guidance_scale": 7}',
        "x\nSteps: 9" + "9" * 5000 + ", CFG scale: 1e999999999, Seed: 1" + "0" * 5000 + ", Size: 99999999999x99999999999",
        "x\nSteps: 20, CFG scale: 0E-999999999, Seed: 1, Size: 512x512",
        "x\nSteps: -5, CFG scale: -7, Seed: -1, Size: -512x-512",
        '"a cat" -s 20 -S 1 -W 99999999 -H 99999999 -C 1e999999999',
        json.dumps({"1": {"class_type": "CLIPTextEncode", "inputs": {"text": ["2", 0]}},
                    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": ["1", 0]}},
                    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7, "positive": ["1", 0],
                                                             "negative": ["2", 0], "model": ["4", 0]}},
                    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}}}),
    ]
    keys = ["parameters", "Comment", "UserComment", "prompt", "workflow", "invokeai_metadata", "sd-metadata",
            "generation_data", "parameters-json", "Dream", "smproj"]
    for value in values:
        for key in keys:
            chunks = [png_chunk(b"iTXt", key.encode() + b"\0\0\0\0\0" + value.encode())]
            if key == "Comment":
                chunks.append(png_chunk(b"tEXt", b"Software\0NovelAI"))
            try:
                r = import_image(text_only_png(chunks=chunks))
            except AigifError:
                continue
            try:
                aigif.decode(aigif.encode(build_syntax(r)))
            except AigifError:
                pass
