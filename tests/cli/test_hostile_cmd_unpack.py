"""Hostile input to `aigif unpack` (aigif/cli/cmd_unpack.py; the corrupt-file cases also run
`aigif verify`): corrupt or unsupported payloads, batches, outputs that cannot be written,
bad --reference images.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import pytest
from PIL import Image

from aigif.container import PIXELS, SYNTAX, Segment
from aigif.errors import ExitStatus
from harness import (  # noqa: F401 (user_facing_env, good_aigif: fixtures)
    assert_fails_cleanly, cli, files_in, good_aigif, regression, user_facing_env,
)
from samples import (
    SYNTAX_BODY, aigif_file, extension_segment, image_bytes, pixels_file, png_declaring_size, png_image,
    syntax_segment,
)


def _bad_payload_files():
    return {
        "garbage-png": (pixels_file(b"garbage", 1), ExitStatus.CODEC),
        "png-in-jpeg-id": (pixels_file(png_image((8, 8)), 5), ExitStatus.CODEC),
        "unknown-codec": (pixels_file(b"x", 99), ExitStatus.CODEC),
        "reserved-codec": (pixels_file(b"x", 17), ExitStatus.CODEC),
        "verbatim-gif": (pixels_file(image_bytes("GIF"), 6), ExitStatus.CODEC),
        "nvtc-garbage": (pixels_file(b"\0" * 10, 16), ExitStatus.CODEC),
        "png-bomb": (pixels_file(png_declaring_size(100_000, 100_000), 1), ExitStatus.LIMIT),
        "empty-pixels-segment": (aigif_file([Segment(PIXELS, b"")]), ExitStatus.MALFORMED),
        "unknown-critical-segment": (aigif_file([Segment(SYNTAX, SYNTAX_BODY), Segment(40, b"zz")]), ExitStatus.UNSUPPORTED),
        "unknown-critical-extension": (aigif_file([Segment(SYNTAX, SYNTAX_BODY), extension_segment(50, 1)]), ExitStatus.UNSUPPORTED),
        "unknown-model-id": (aigif_file([syntax_segment(model=987654, prompt="x")]), ExitStatus.MODEL),
        "unknown-scheduler-id": (aigif_file([syntax_segment(prompt="x", scheduler=60000)]), ExitStatus.MODEL),
        "inline-name-not-a-model": (aigif_file([syntax_segment(model="no such model", prompt="x")]), ExitStatus.MODEL),
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


# -- batches and outputs ------------------------------------------------------------------------------
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


@regression("unpack of a folder: a/x.aigif and b/x.aigif both go to OUT/x.png - the second silently "
            "overwrites the first (cmd_unpack.run: keep the relative path or refuse the collision)")
def test_unpack_batch_never_overwrites_its_own_outputs(tmp_path, capsys):
    src = tmp_path / "in"
    for sub, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (src / sub).mkdir(parents=True)
        (src / sub / "x.aigif").write_bytes(pixels_file(png_image((8, 8), colour=colour)))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "unpack", src, "-o", out)
    written = [Image.open(p).convert("RGB").getpixel((0, 0)) for p in sorted(out.rglob("*.png"))]
    if code == 0:
        assert sorted(written) == [(0, 0, 255), (255, 0, 0)]  # both images kept
    else:
        assert_fails_cleanly(code, err)


@regression("the single-input unpack error is printed twice: on stdout (progress line) and stderr")
def test_unpack_single_error_is_reported_once_on_stderr(tmp_path, capsys):
    src = tmp_path / "in.aigif"
    src.write_bytes(pixels_file(b"garbage"))
    code, out, err = cli(capsys, "unpack", src, "-o", tmp_path / "o.png")
    assert code == ExitStatus.CODEC and out == ""


@regression("cmd_unpack: _save_png's OSError (missing output folder) escapes as an internal error")
def test_unpack_output_in_missing_folder(tmp_path, capsys, good_aigif):
    code, _, err = cli(capsys, "unpack", good_aigif, "-o", tmp_path / "absent" / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["good.aigif"]


@regression("cmd_unpack: -o naming an existing regular file -> mkdir FileExistsError, internal error")
@pytest.mark.parametrize("inputs", [1, 2])
def test_unpack_output_is_an_existing_file(tmp_path, capsys, good_aigif, inputs):
    target = tmp_path / "taken"
    target.write_bytes(b"keep me")
    code, _, err = cli(capsys, "unpack", *[good_aigif] * inputs, "-o", target)
    assert_fails_cleanly(code, err)
    assert target.read_bytes() == b"keep me"


@regression("unpack of several inputs with -o OUT.png silently creates a *directory* named OUT.png")
def test_unpack_several_inputs_to_a_png_path_is_a_usage_error(tmp_path, capsys, good_aigif):
    other = tmp_path / "other.aigif"
    other.write_bytes(good_aigif.read_bytes())
    code, _, err = cli(capsys, "unpack", good_aigif, other, "-o", tmp_path / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert not (tmp_path / "o.png").exists()


# -- --reference ---------------------------------------------------------------------------------------
def _bad_references():
    return {
        "missing": None,
        "directory": "dir",
        "empty": b"",
        "not-an-image": b"hello",
        "bomb": png_declaring_size(100_000, 100_000),
        "other-size": png_image((16, 16)),
    }


@regression("--reference problems: base AigifError (exit 1) or internal error (DecompressionBombError, "
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
