"""Hostile input to `aigif pack` (aigif/cli/cmd_pack.py): unwritable outputs, syntax files that
are unreadable or not a JSON object, absurd values and flag combinations, and --image files
that are unreadable, truncated or decompression bombs.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import json

import pytest

import aigif
from aigif.errors import ExitStatus
from harness import assert_fails_cleanly, cli, cpu_time_guard, files_in, regression, user_facing_env  # noqa: F401 (fixture)
from samples import PNG_SIGNATURE, image_bytes, png_declaring_size, png_image


# -- outputs that cannot be written -----------------------------------------------------------------
@regression("codec.write raises the base AigifError (exit 1) when the output folder does not exist")
def test_pack_output_in_missing_folder(tmp_path, capsys):
    code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", tmp_path / "absent" / "x.aigif")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == []


@regression("codec.write raises the base AigifError (exit 1) when -o names a directory")
def test_pack_output_is_a_directory(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", tmp_path / "d")
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert files_in(tmp_path) == ["d"] and files_in(tmp_path / "d") == []  # no temp file left beside it


# -- --syntax files -----------------------------------------------------------------------------------
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


@regression("json.load raises RecursionError (not JSONDecodeError) on deeply nested JSON: internal "
            "error; cmd_pack.syntax_dict_from_args must catch RecursionError too")
@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '{"extensions": {"hires": ' + "[" * 50_000 + "]" * 50_000 + "}}"])
def test_pack_syntax_deeply_nested_json(tmp_path, capsys, text):
    src = tmp_path / "deep.json"
    src.write_text(text)
    code, _, err = cli(capsys, "pack", "--no-generate", "--syntax", src, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert not (tmp_path / "o.aigif").exists()


# -- absurd values and flag combinations ------------------------------------------------------------
@regression("decimal_parts expands the exponent before any check: '1e5000' builds a 5001-digit int and "
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


@regression("non-finite numbers pass the extension validators and are written into the file; `info "
            "--json` then prints NaN/Infinity, which is not JSON (aigif/extensions.py validators)")
@pytest.mark.parametrize("ext", ["eta=NaN", "eta=Infinity", "eta=-Infinity", 'hires={"scale": NaN}',
                                 'lora=[{"name": "x", "weight": Infinity}]'])
def test_pack_rejects_non_finite_extension_numbers(tmp_path, capsys, ext):
    code, _, err = cli(capsys, "pack", "--no-generate", "--ext", ext, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


@regression("an integer outside msgpack's 64-bit range in an extension: msgpack OverflowError at encode, "
            "internal error (validate in aigif/extensions.py check_value)")
def test_pack_rejects_extension_integer_beyond_64_bits(tmp_path, capsys):
    code, _, err = cli(capsys, "pack", "--no-generate", "--ext", 'hires={"steps": 123456789012345678901234567890}',
                       "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


@regression("a 'comment' extension over MAX_EXTENSION_BYTES is written, then every reader refuses the "
            "file (E_LIMIT at decode): the writer must refuse it (Syntax.from_dict / codec.encode)")
def test_pack_refuses_extension_over_the_limit_instead_of_writing_an_unreadable_file(tmp_path, capsys):
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"prompt": "x", "extensions": {"comment": "c" * (aigif.limits.MAX_EXTENSION_BYTES + 10)}}))
    code, _, err = cli(capsys, "pack", "--no-generate", "--syntax", src, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert files_in(tmp_path) == ["s.json"]


@regression("--image is silently ignored when generation options are given with --no-generate "
            "(cmd_pack.run: reject --image without --residual when the syntax path is taken)")
def test_pack_image_with_prompt_and_no_generate_is_a_usage_error(tmp_path, capsys):
    img = tmp_path / "in.png"
    img.write_bytes(png_image())
    code, _, err = cli(capsys, "pack", "--no-generate", "--image", img, "--prompt", "cat", "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == ["in.png"]


@regression("--save-image is silently ignored with --no-generate (cmd_pack.run)")
def test_pack_save_image_with_no_generate_is_a_usage_error(tmp_path, capsys):
    code, _, err = cli(capsys, "pack", "--no-generate", "--prompt", "x", "--save-image", tmp_path / "i.png",
                       "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.USAGE)
    assert files_in(tmp_path) == []


# -- --image: unreadable, truncated, bombs ----------------------------------------------------------
def _bad_images():
    png = png_image()
    return {
        "missing": None,
        "directory": "dir",
        "empty": b"",
        "text": b"hello, not an image",
        "truncated-png": png[: len(png) // 2],
        "signature-only": PNG_SIGNATURE,
        "truncated-jpeg": image_bytes("JPEG")[:40],
        "truncated-webp": image_bytes("WEBP")[:20],
    }


@regression("cmd_pack._open_image raises the base AigifError (exit 1) for unreadable images")
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


@regression("a decompression bomb for `pack --image` is reported as the base AigifError (exit 1), "
            "not E_LIMIT (exit 5), and Pillow's DecompressionBombWarning leaks to stderr")
@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 20_000)])
def test_pack_image_decompression_bomb(tmp_path, capsys, size):
    img = tmp_path / "bomb.png"
    img.write_bytes(png_declaring_size(*size))
    code, _, err = cli(capsys, "pack", "--image", img, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert "Warning" not in err
    assert files_in(tmp_path) == ["bomb.png"]


@pytest.mark.parametrize("codec, status", [("nope", ExitStatus.CODEC), ("webp:101", ExitStatus.USAGE),
                                           ("png:9", ExitStatus.USAGE), ("", ExitStatus.USAGE),
                                           ("verbatim:3", ExitStatus.USAGE), ("jpeg:-1", ExitStatus.USAGE)])
def test_pack_image_bad_codec_spec(tmp_path, capsys, codec, status):
    img = tmp_path / "in.png"
    img.write_bytes(png_image((16, 16)))
    code, _, err = cli(capsys, "pack", "--image", img, "--codec", codec, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, status)
    assert files_in(tmp_path) == ["in.png"]
