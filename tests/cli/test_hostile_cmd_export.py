"""Hostile input to `aigif export` (aigif/cli/cmd_export.py): a file with no generation syntax,
--embed into images that are missing, not PNG or broken, and outputs that cannot be
written.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import pytest

from aigif.errors import ExitStatus
from harness import (  # noqa: F401 (user_facing_env, good_aigif: fixtures)
    assert_fails_cleanly, cli, files_in, good_aigif, regression, user_facing_env,
)
from samples import PNG_SIGNATURE, image_bytes, png_chunk, png_image


@regression("export of a pixels-only file (no SYNTAX segment) invents generation parameters "
            "(tiny-sd defaults) and exits 0; it has no generation syntax to export")
@pytest.mark.parametrize("fmt", ["a1111", "comfyui"])
def test_export_pixels_only_file_has_nothing_to_export(tmp_path, capsys, good_aigif, fmt):
    code, out, err = cli(capsys, "export", good_aigif, "--format", fmt)
    assert_fails_cleanly(code, err)
    assert out == ""


@regression("export --embed: write_atomic's OSError (missing output folder) escapes as an internal error")
def test_export_embed_output_in_missing_folder(tmp_path, capsys):
    src = tmp_path / "s.aigif"
    assert cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", src)[0] == 0
    png = tmp_path / "in.png"
    png.write_bytes(png_image((8, 8)))
    code, _, err = cli(capsys, "export", src, "--embed", png, "-o", tmp_path / "absent" / "o.png")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["in.png", "s.aigif"]


@pytest.mark.parametrize("content, status", [(None, ExitStatus.IO), (b"", ExitStatus.UNSUPPORTED),
                                             (image_bytes("GIF"), ExitStatus.UNSUPPORTED),
                                             (png_image((8, 8))[:30], ExitStatus.MALFORMED),
                                             (PNG_SIGNATURE + png_chunk(b"IEND", b""), ExitStatus.MALFORMED)],
                         ids=["missing", "empty", "gif", "truncated-png", "png-without-ihdr"])
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
