"""Hostile input common to every CLI verb (aigif/cli/main.py, the one error -> exit status
handler): input files that are missing, directories, devices or over the size limits, and
the mode of the files the verbs write.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import aigif
from aigif.container import SYNTAX, Segment
from aigif.errors import ExitStatus
from harness import (  # noqa: F401 (user_facing_env, good_aigif: fixtures)
    assert_fails_cleanly, bounded_cli, cli, files_in, good_aigif, killed_by_cpu_limit, regression, user_facing_env,
)
from samples import A1111_INFOTEXT, SYNTAX_BODY, aigif_file, png_image, syntax_segment


# -- files that are missing or are directories ---------------------------------------------------
@regression("read_bytes() raises the base AigifError (code E_AIGIF, exit 1 = 'a bug') for a missing "
            "file; aigif/codec.py read_bytes needs an error class with a real exit status")
@pytest.mark.parametrize("verb", [["info"], ["info", "--json"], ["export"], ["verify"], ["unpack", "-o", "OUT"]])
def test_missing_input_file_is_a_specific_error(tmp_path, capsys, verb):
    missing = tmp_path / "absent" / "x.aigif"
    args = [a if a != "OUT" else tmp_path / "o.png" for a in verb]
    code, _, err = cli(capsys, *args[:1], missing, *args[1:])
    assert_fails_cleanly(code, err, ExitStatus.IO)
    assert str(missing) in err
    assert files_in(tmp_path) == []


@regression("a directory given as the input file: read_bytes raises the base AigifError (exit 1)")
def test_directory_as_input_file(tmp_path, capsys):
    code, _, err = cli(capsys, "info", tmp_path)
    assert_fails_cleanly(code, err, ExitStatus.IO)


# -- streams and devices given as files, oversized files ------------------------------------------
@regression("a character device or FIFO given as an input file is read without bound (Path.read_bytes / "
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


def test_files_over_the_size_limits_are_refused_before_reading(tmp_path, capsys, monkeypatch):
    import aigif.importers

    src = tmp_path / "big.aigif"
    src.write_bytes(aigif_file([syntax_segment(prompt="a red fox in the snow")]))
    monkeypatch.setattr(aigif.limits, "MAX_FILE_BYTES", src.stat().st_size - 1)
    code, _, err = cli(capsys, "info", src)
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    img = tmp_path / "big.png"
    img.write_bytes(png_image(text={"parameters": A1111_INFOTEXT}))
    monkeypatch.setattr(aigif.limits, "MAX_IMAGE_FILE_BYTES", 100)
    code, _, err = cli(capsys, "import", img, "-o", tmp_path / "o.aigif")
    assert_fails_cleanly(code, err, ExitStatus.LIMIT)
    assert not (tmp_path / "o.aigif").exists()


# -- what the verbs write --------------------------------------------------------------------------
@regression("write_atomic keeps mkstemp's mode 0600: every file AIGIF writes is unreadable to other "
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
