"""The learned codecs use their shipped weights only when the file is the one the zoo
records (full sha256): a changed, swapped or missing file is a CodecError naming it,
never a decode with other tables (codecs/learned_weights.py)."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from aigif.errors import CodecError

aigif_codecs = pytest.importorskip("aigif_codecs")
CODECS = {c.name: c for c in aigif_codecs.list_codecs()}


@pytest.fixture
def tampered(tmp_path):
    """A copy of a weights file with one byte of its tensor data changed."""

    def make(src):
        dst = tmp_path / src.name
        shutil.copyfile(src, dst)
        blob = bytearray(dst.read_bytes())
        blob[-1] ^= 1
        dst.write_bytes(bytes(blob))
        return dst

    return make


@pytest.mark.skipif(not CODECS["omni"].available, reason=f"omni unavailable: {CODECS['omni'].reason}")
def test_omni_refuses_changed_or_missing_weights(monkeypatch, tampered, tmp_path):
    from aigif_codecs.omni import codec, zoo

    bad = tampered(zoo.weights_path())
    for path, words in ((bad, "sha256"), (tmp_path / "absent.safetensors", "missing")):
        monkeypatch.setattr(codec, "weights_path", lambda p=path: p)
        codec.load.cache_clear()
        try:
            with pytest.raises(CodecError, match=words):
                codec.load()
        finally:
            codec.load.cache_clear()  # the next test loads the real file again


@pytest.mark.skipif(not CODECS["nvtc"].available, reason=f"nvtc unavailable: {CODECS['nvtc'].reason}")
def test_nvtc_refuses_changed_weights(monkeypatch, tampered):
    from aigif_codecs.nvtc import codec, zoo

    bad = tampered(zoo.weights_path(1))
    monkeypatch.setattr(codec, "weights_path", lambda rate: bad)
    codec.load.cache_clear()
    try:
        with pytest.raises(CodecError, match="sha256"):
            codec.load(1)
    finally:
        codec.load.cache_clear()


def test_read_checked_parses_what_write_weights_wrote(tmp_path):
    torch = pytest.importorskip("torch")
    from aigif_codecs.learned_weights import read_checked, write_weights

    path = tmp_path / "sub" / "w.safetensors"
    returned = write_weights(path, {"a": torch.arange(4, dtype=torch.float32)}, {"config": "{}"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert returned == digest and (path.stat().st_mode & 0o777) == 0o644
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    tensors, meta, got = read_checked(path, digest, "test")
    assert got == digest and meta == {"config": "{}"} and tensors["a"].tolist() == [0, 1, 2, 3]
    with pytest.raises(CodecError, match="expected"):
        read_checked(path, "0" * 64, "test")
