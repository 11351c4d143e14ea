"""Hostile input to `aigif import` (aigif/cli/cmd_import.py, through importers/): broken and
malicious images (samples.hostile_images), outputs that cannot be written, batches, and the
importer's bounds on work and memory (ReDoS, EXIF amplification), checked in a child under
rlimits.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import pytest

import aigif
from aigif.errors import ExitStatus
from harness import (  # noqa: F401 (fixture)
    assert_fails_cleanly, bounded_cli, cli, files_in, killed_by_cpu_limit, regression, user_facing_env,
)
from samples import (
    A1111_INFOTEXT, a1111_infotext, exif_amplifier, hostile_images, png_chunk, png_image, png_text_chunk,
    text_only_png,
)


@pytest.mark.parametrize("name", list(hostile_images()))
def test_import_hostile_images(tmp_path, capsys, name):
    data, status = hostile_images()[name]
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


@regression("an OSError while *writing* the output is reported as E_FORMAT naming the *source* image "
            "(importers/batch.import_one wraps every OSError as 'E_IO: <source>')")
def test_import_output_in_missing_folder_names_the_output(tmp_path, capsys):
    src = tmp_path / "in.png"
    src.write_bytes(png_image(text={"parameters": A1111_INFOTEXT}))
    out = tmp_path / "absent" / "o.aigif"
    code, _, err = cli(capsys, "import", src, "-o", out)
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert str(out.parent) in err
    assert files_in(tmp_path) == ["in.png"]


@regression("import of several files with -o naming an existing regular file: mkdir FileExistsError, "
            "internal error (cmd_import.run)")
def test_import_several_files_into_an_existing_file(tmp_path, capsys):
    for n in ("a.png", "b.png"):
        (tmp_path / n).write_bytes(png_image(text={"parameters": A1111_INFOTEXT}))
    (tmp_path / "taken").write_bytes(b"keep me")
    code, _, err = cli(capsys, "import", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "taken", "-j", "1")
    assert_fails_cleanly(code, err)
    assert (tmp_path / "taken").read_bytes() == b"keep me"


@regression("import of a folder holding x.png and x.jpg writes both to OUT/x.aigif: the second silently "
            "overwrites the first (cmd_import._output_for)")
def test_import_batch_never_overwrites_its_own_outputs(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.png").write_bytes(png_image(text={"parameters": a1111_infotext(seed=111)}))
    (src / "x.webp").write_bytes(text_only_png(chunks=[png_text_chunk("parameters", a1111_infotext(seed=222))]))
    out = tmp_path / "out"
    code, _, err = cli(capsys, "import", src, "-o", out, "-j", "1")
    seeds = sorted(aigif.read(p).seed for p in out.rglob("*.aigif"))
    if code == 0:
        assert seeds == [111, 222]
    else:
        assert_fails_cleanly(code, err)


@regression("import --keep-pixels stores the image bytes without checking they decode "
            "(importers/batch.build_syntax should use aigif_codecs.encode_verbatim): the .aigif it "
            "writes can never be unpacked (E_CODEC / E_LIMIT)")
@pytest.mark.parametrize("size", [(64, 64), (0x7FFFFFFF, 0x7FFFFFFF)])
def test_import_keep_pixels_never_writes_an_undecodable_payload(tmp_path, capsys, size):
    src = tmp_path / "in.png"
    src.write_bytes(text_only_png(*size, chunks=[png_text_chunk("parameters", A1111_INFOTEXT)]))
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


# -- bounds on work and memory, in a child process ----------------------------------------------------
@regression("the A1111 key-value regex (importers/tools/a1111.py RE_PARAM in looks_like_infotext) is "
            "quadratic: a 150 kB one-word 'parameters' text takes minutes (ReDoS); 1 MiB takes hours")
def test_import_a1111_regex_is_not_quadratic(tmp_path):
    src = tmp_path / "redos.png"
    src.write_bytes(text_only_png(chunks=[png_text_chunk("parameters", "y" * 150_000)]))
    code, _, err = bounded_cli(["import", src, "-o", tmp_path / "o.aigif"], tmp_path, cpu_seconds=4)
    assert not killed_by_cpu_limit(code), "import hangs on a long one-word parameters text"
    assert_fails_cleanly(code, err, ExitStatus.NO_METADATA)


@regression("EXIF amplification: 1024 IFD entries pointing at one 1 MiB UserComment become 1024 "
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
