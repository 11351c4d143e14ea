"""Issue acceptance, end to end through the CLI with the embedded models (CPU, offline)."""

import shutil

import pytest
from PIL import Image

from aigif.cli.main import main
from aigif.registry import get_registry


def test_pack_then_unpack_twice_is_bit_exact(tmp_path, capsys):
    fox = tmp_path / "fox.aigif"
    assert main(["pack", "--prompt", "a red fox", "--seed", "7", "-o", str(fox)]) == 0
    assert main(["unpack", str(fox), "-o", str(tmp_path / "a.png")]) == 0
    assert main(["unpack", str(fox), "-o", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert out.count("bit-exact") == 2
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert main(["verify", str(fox)]) == 0


def test_hub_model_packs_without_weights_and_unpack_says_unavailable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    f = tmp_path / "sd15.aigif"
    assert main(["pack", "--model", "runwayml/stable-diffusion-v1-5", "--no-generate", "--prompt", "a cat", "--seed", "1", "-o", str(f)]) == 0
    capsys.readouterr()
    status = main(["unpack", str(f), "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert status == 6 and "E_MODEL_UNAVAILABLE" in err and "sd-1.5" in err
    assert not (tmp_path / "x.png").exists()


def test_user_entry_for_a_copied_folder_packs_and_unpacks(tmp_path, capsys):
    src = get_registry().model("tiny-sd").source_dir
    copy = tmp_path / "my-model"
    shutil.copytree(src, copy)
    assert main(["registry", "add", "my-copy", "--path", str(copy), "--like", "tiny-sd"]) == 0
    f = tmp_path / "mine.aigif"
    assert main(["pack", "--model", "my-copy", "--prompt", "a boat", "--seed", "3", "-o", str(f)]) == 0
    assert main(["unpack", str(f), "-o", str(tmp_path / "mine.png")]) == 0
    assert "bit-exact" in capsys.readouterr().out
    # same weights as tiny-sd, so the same pixels as the built-in entry gives
    g = tmp_path / "builtin.aigif"
    assert main(["pack", "--model", "tiny-sd", "--prompt", "a boat", "--seed", "3", "--save-image", str(tmp_path / "b.png"), "-o", str(g)]) == 0
    assert Image.open(tmp_path / "mine.png").tobytes() == Image.open(tmp_path / "b.png").tobytes()


def test_residual_layer_reproduces_the_original_despite_platform_drift(tmp_path, monkeypatch):
    import numpy as np

    import aigif
    from aigif import regenerate

    # an "original": the regeneration, edited (a brighter square), as a user's retouched image
    syntax = aigif.from_dict({"prompt": "a lighthouse", "seed": 11})
    regen, _ = regenerate.generate_image(syntax)
    arr = np.asarray(regen).astype(int)
    arr[8:24, 8:24] = np.clip(arr[8:24, 8:24] + 40, 0, 255)
    original = tmp_path / "original.png"
    Image.fromarray(arr.astype(np.uint8)).save(original)

    f = tmp_path / "res.aigif"
    assert main(["pack", "--prompt", "a lighthouse", "--seed", "11", "--image", str(original), "--residual", "--codec", "coset:2", "-o", str(f)]) == 0

    # simulate another platform: the decoder's regeneration is off by up to ±1 everywhere
    real = regenerate.generate_image
    rng = np.random.default_rng(0)

    def drifted(*a, **k):
        image, platform = real(*a, **k)
        noisy = np.clip(np.asarray(image).astype(int) + rng.integers(-1, 2, np.asarray(image).shape), 0, 255)
        return Image.fromarray(noisy.astype(np.uint8)), platform

    monkeypatch.setattr(regenerate, "generate_image", drifted)
    result = regenerate.unpack_image(f)
    assert result.source == "regenerated+residual" and result.status == "bit-exact"
    assert result.image.tobytes() == Image.open(original).convert("RGB").tobytes()


def test_python_pack_records_platform_fidelity_and_residual(tmp_path):
    import numpy as np

    import aigif

    d = {"prompt": "a lighthouse", "seed": 11, "steps": 2}
    data = aigif.pack(d, tmp_path / "p.aigif")
    assert (tmp_path / "p.aigif").read_bytes() == data
    s = aigif.decode(data)
    assert s.platform is not None and s.platform.device == "cpu" and s.fidelity is not None
    assert aigif.unpack(data).tobytes() == aigif.generate(d).tobytes()
    assert not s.payloads

    # with an original: a coset residual reproduces it, and the fidelity hash is the original's
    arr = np.asarray(aigif.generate(d)).astype(int)
    arr[4:12, 4:12] = 255 - arr[4:12, 4:12]
    original = Image.fromarray(arr.astype(np.uint8))
    s = aigif.decode(aigif.pack(d, original=original, keep_platform=False))
    assert s.platform is None and [p.kind for p in s.payloads] == ["residual"] and s.payloads[0].codec_id == 32
    from aigif.regenerate import unpack_image

    result = unpack_image(aigif.encode(s))
    assert result.status == "bit-exact" and result.image.tobytes() == original.convert("RGB").tobytes()
