"""The A1111 user path end to end (issue 11): an A1111 PNG whose infotext names
`Model: tiny-sd` -> `aigif import` -> `aigif unpack` gives A1111's pixels, `aigif verify`
says bit-exact (exit 0) and differs (exit 11) for a changed pixel; an imported real A1111
image whose weights are absent is refused, naming them (exit 6).

The PNG's pixels are accepted only when their sha256 equals the golden that A1111 v1.10.1's
own code produced for the same parameters (tests/goldens/a1111/engine.json, case
euler_a_cfg7; threads 1, the goldens' setting)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
np = pytest.importorskip("numpy")
from PIL import Image, PngImagePlugin  # noqa: E402

import aigif  # noqa: E402
from aigif.cli.main import main  # noqa: E402

HERE = Path(__file__).parents[1]
GOLDEN = {c["name"]: c for c in json.loads((HERE / "goldens" / "a1111" / "engine.json").read_text(encoding="utf-8"))["cases"]}
CASE = GOLDEN["euler_a_cfg7"]
INFOTEXT = (
    f"{CASE['params']['prompt']}\n"
    f"Negative prompt: {CASE['params']['negative_prompt']}\n"
    "Steps: 10, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234, Size: 64x64, "
    "Model: tiny-sd, RNG: CPU, Version: v1.10.1"
)


def _png(path: Path, pixels: np.ndarray, infotext: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", infotext)
    Image.fromarray(pixels, "RGB").save(path, pnginfo=info)


@pytest.fixture(scope="module")
def a1111_png(tmp_path_factory):
    """The A1111 image: the engine's output for the infotext, checked against A1111's golden."""
    from aigif.regenerate import generate_image

    syntax = aigif.from_dict(aigif.importers.import_image(_tmp_png(tmp_path_factory, INFOTEXT)).syntax)
    image, _platform = generate_image(syntax, threads=1)
    pixels = np.asarray(image)
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == CASE["pixels_sha256"], "not A1111's pixels"
    path = tmp_path_factory.mktemp("a1111") / "00001-1234.png"
    _png(path, pixels, INFOTEXT)
    return path, pixels


def _tmp_png(factory, infotext: str) -> str:
    path = factory.mktemp("probe") / "probe.png"
    _png(path, np.zeros((64, 64, 3), np.uint8), infotext)
    return str(path)


def test_import_records_semantics_and_the_original_pixels(a1111_png):
    path, pixels = a1111_png
    syntax = aigif.importers.import_image(str(path)).syntax
    assert syntax["extensions"]["semantics"] == {"engine": "a1111", "version": "v1.10.1"}
    assert syntax["extensions"]["rng"] == {"source": "cpu"}
    assert syntax["scheduler"] == "euler_a"
    assert syntax["fidelity"] == aigif.fidelity.fidelity_of(Image.fromarray(pixels)).to_dict()


def test_import_unpack_verify_bit_exact(a1111_png, tmp_path, capsys):
    path, pixels = a1111_png
    out = tmp_path / "x.aigif"
    assert main(["import", str(path), "-o", str(out)]) == 0
    png = tmp_path / "x.png"
    assert main(["unpack", str(out), "-o", str(png), "--threads", "1"]) == 0
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), pixels)
    capsys.readouterr()
    assert main(["verify", str(out), "--threads", "1"]) == 0
    assert "bit-exact" in capsys.readouterr().out


def test_verify_says_differs_for_a_changed_pixel(a1111_png, tmp_path, capsys):
    path, pixels = a1111_png
    changed = pixels.copy()
    changed[10, 20, 1] ^= 1
    edited = tmp_path / "edited.png"
    _png(edited, changed, INFOTEXT)
    out = tmp_path / "edited.aigif"
    assert main(["import", str(edited), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--threads", "1"]) == 11
    assert "differs" in capsys.readouterr().out


def test_missing_lora_hires_clip_skip_is_refused_naming_the_lora(tmp_path, capsys, monkeypatch):
    """tiny-sd is there, the LoRA is not: exit 6, naming it and where it was looked for."""
    monkeypatch.setenv("AIGIF_LORA_DIR", str(tmp_path / "loras"))
    infotext = (
        "a red cat <lora:fluffy_style:0.8>\nNegative prompt: lowres\n"
        "Steps: 6, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3, Size: 64x64, Model: tiny-sd, "
        "Clip skip: 2, Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent, "
        'Lora hashes: "fluffy_style: 0123456789ab", Version: v1.10.1'
    )
    src = tmp_path / "lora.png"
    _png(src, np.zeros((128, 128, 3), np.uint8), infotext)
    out = tmp_path / "lora.aigif"
    assert main(["import", str(src), "-o", str(out)]) == 0
    ext = aigif.read(out).extensions
    assert {"lora", "hires", "clip_skip", "semantics"} <= set(ext)
    capsys.readouterr()
    assert main(["unpack", str(out), "-o", str(tmp_path / "o.png")]) == 6
    err = capsys.readouterr().err
    assert "fluffy_style" in err and "E_MODEL_UNAVAILABLE" in err and "Traceback" not in err


def test_real_a1111_image_without_its_weights_is_refused_naming_the_model(tmp_path, capsys):
    """A real A1111 file (clip skip 2, Realistic Vision v5.1: not downloaded here)."""
    src = HERE / "fixtures" / "aigc" / "03_a1111_stealth_pnginfo.png"
    out = tmp_path / "real.aigif"
    assert main(["import", str(src), "-o", str(out)]) == 0
    s = aigif.read(out)
    assert s.extensions["semantics"]["engine"] == "a1111" and s.extensions["clip_skip"] == 2
    capsys.readouterr()
    assert main(["unpack", str(out), "-o", str(tmp_path / "o.png")]) == 6
    err = capsys.readouterr().err
    assert "realistic-vision" in err.lower() and "Traceback" not in err


LORA_DIR = HERE / "fixtures" / "lora"  # tiny_sd_random.safetensors: A1111 (kohya) key names
# (not "lowres" alone: at clip skip 2 without the LoRA tiny-sd's CLIP gives it a conditioning
# mean of exactly 0 under the suite's portable numerics, which A1111 turns into NaN and refuses)
HIRES_INFOTEXT = (
    "a red cat <lora:tiny_sd_random:0.8>\nNegative prompt: lowres, ugly\n"
    "Steps: 4, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 5, Size: 64x64, Model: tiny-sd, "
    "RNG: CPU, Clip skip: 2, Denoising strength: 0.5, Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent, "
    'Lora hashes: "tiny_sd_random: {autov3}", Version: v1.10.1'
)


@pytest.fixture()
def lora_hires_aigif(tmp_path, monkeypatch):
    from aigif.diffusion.engines.a1111.lora import autov3

    for env in ("AIGIF_LORA_DIR", "AIGIF_EMBEDDINGS_DIR", "AIGIF_VAE_DIR"):
        monkeypatch.delenv(env, raising=False)
    src = tmp_path / "lora_hires.png"
    _png(src, np.zeros((128, 128, 3), np.uint8),
         HIRES_INFOTEXT.format(autov3=autov3(LORA_DIR / "tiny_sd_random.safetensors")[:12]))
    out = tmp_path / "lora_hires.aigif"
    assert main(["import", str(src), "-o", str(out)]) == 0
    ext = aigif.read(out).extensions
    assert {"lora", "hires", "clip_skip", "semantics"} <= set(ext) and ext["clip_skip"] == 2
    return out


def test_lora_hires_clip_skip_runs_the_a1111_engine_with_lora_dir(lora_hires_aigif, tmp_path, capsys):
    """The weights are there (tiny-sd, the LoRA under --lora-dir): unpack runs the A1111
    engine and makes the hires-size image; the LoRA changes it (the same file without its
    tag's LoRA would be another image)."""
    png = tmp_path / "o.png"
    assert main(["unpack", str(lora_hires_aigif), "-o", str(png), "--threads", "1", "--lora-dir", str(LORA_DIR)]) == 0
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape == (128, 128, 3)
    assert image.std() > 1  # an image, not a blank
    without = aigif.to_dict(aigif.read(lora_hires_aigif))
    without["prompt"] = without["prompt"].replace(" <lora:tiny_sd_random:0.8>", "")
    del without["extensions"]["lora"]
    plain = tmp_path / "plain.aigif"
    plain.write_bytes(aigif.encode(aigif.from_dict(without)))
    png2 = tmp_path / "plain.png"
    assert main(["unpack", str(plain), "-o", str(png2), "--threads", "1"]) == 0
    assert not np.array_equal(np.asarray(Image.open(png2).convert("RGB")), image)


def test_lora_hires_without_lora_dir_exits_6_naming_the_lora_and_the_flag(lora_hires_aigif, tmp_path, capsys):
    capsys.readouterr()
    assert main(["unpack", str(lora_hires_aigif), "-o", str(tmp_path / "o.png")]) == 6
    err = capsys.readouterr().err
    assert "tiny_sd_random" in err and "--lora-dir" in err and "AIGIF_LORA_DIR" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_lora_dir_flag_that_is_not_a_folder_is_refused_before_any_work(lora_hires_aigif, tmp_path, capsys):
    for verb in (["unpack", str(lora_hires_aigif), "-o", str(tmp_path / "o.png")], ["verify", str(lora_hires_aigif)]):
        capsys.readouterr()
        assert main([*verb, "--lora-dir", str(tmp_path / "no-such-folder")]) != 0
        err = capsys.readouterr().err
        assert "--lora-dir" in err and "not a directory" in err


def test_pack_takes_the_folder_flags(tmp_path, monkeypatch, capsys):
    """pack runs the model too: an a1111-semantics syntax with a LoRA, the folder by flag."""
    monkeypatch.delenv("AIGIF_LORA_DIR", raising=False)
    syntax = tmp_path / "s.json"
    syntax.write_text(json.dumps({
        "prompt": "a red cat <lora:tiny_sd_random:0.8>", "negative_prompt": "lowres", "seed": 5, "steps": 3, "width": 64, "height": 64,
        "guidance": 7, "scheduler": "euler_a", "model": "tiny-sd",
        "extensions": {"semantics": {"engine": "a1111", "version": "v1.10.1"}, "rng": {"source": "cpu"},
                       "lora": [{"name": "tiny_sd_random", "weight": 0.8}]}}))
    out = tmp_path / "p.aigif"
    assert main(["pack", "--syntax", str(syntax), "-o", str(out), "--threads", "1"]) == 6
    assert "--lora-dir" in capsys.readouterr().err
    assert main(["pack", "--syntax", str(syntax), "-o", str(out), "--threads", "1", "--lora-dir", str(LORA_DIR)]) == 0
    assert "fidelity" in aigif.to_dict(aigif.read(out))


def test_imported_ti_hashes_are_the_engines_own(tmp_path):
    """The `TI hashes` value the engine writes for an embedding file, read back by the
    importer, gives the embeddings extension that hash: import and engine agree."""
    import torch
    from safetensors.torch import save_file

    from aigif.diffusion.engines.a1111.conditioning import load_embedding_file, ti_hashes_infotext

    path = tmp_path / "shiny_style.safetensors"
    save_file({"emb_params": torch.randn(2, 32, generator=torch.Generator().manual_seed(3))}, str(path))
    embedding = load_embedding_file(path)
    assert embedding.shorthash == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    value = ti_hashes_infotext([embedding])
    src = tmp_path / "ti.png"
    _png(src, np.zeros((64, 64, 3), np.uint8), INFOTEXT.replace("a ", "shiny_style a ", 1) + f', TI hashes: "{value}"')
    ext = aigif.importers.import_image(str(src)).syntax["extensions"]
    assert ext["embeddings"] == [{"name": "shiny_style", "hash": embedding.shorthash}]
