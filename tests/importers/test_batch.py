"""aigif/importers/batch.py: one import is one pass over the source file."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from aigif.importers.batch import import_one

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "aigc"


@pytest.mark.parametrize("keep_pixels", [False, True])
@pytest.mark.parametrize("name", [
    "52_novelai_legacy_full.png",     # text chunks, then the pixels for the fidelity hash
    "03_a1111_stealth_pnginfo.png",   # no text: the hidden LSBs are read from the pixels
    "39_a1111_webui.webp",
])
def test_the_source_is_opened_once(tmp_path, monkeypatch, name, keep_pixels):
    """Container, stealth LSBs, fidelity pixels and the --keep-pixels copy all come from one
    open of the file (it was stat'ed, opened and opened again by name, up to four times)."""
    src = tmp_path / name
    src.write_bytes((FIX / name).read_bytes())
    opens = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if str(file) == str(src):
            opens.append(args[0] if args else kwargs.get("mode", "r"))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    o = import_one(str(src), str(tmp_path / "out.aigif"), keep_pixels=keep_pixels)
    assert o.ok, o.error
    assert opens == ["rb"]
    assert o.image_bytes == src.stat().st_size
    if name.endswith(".png"):
        assert "fidelity" in o.syntax  # the pixels were decoded too, from the same open file
