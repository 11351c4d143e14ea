"""The A1111 engine end to end on the embedded tiny-sd against goldens made by A1111
v1.10.1's own processing/sampling code (tests/goldens/a1111/README.md, engine.json), plus
its refusals, LoRA resolution by A1111's hashes and the hires-fix arithmetic.

Tolerance: under the suite's portable CPU numerics (aigif/diffusion/portable.py; torch CPU
float32, one thread) every case matches bit for bit on any x86-64 machine, latents and pixels; `test_golden_case` records whether a case was
bit-exact and otherwise accepts max |latent difference| <= 1e-4 on 64 probes, the latent's
max |x| within 1e-4, and 8-bit pixels within +-1 on 64 probes (a platform the profile
does not pin may round the UNet's float32 reductions differently).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from aigif.errors import InvalidSyntax, ModelUnavailable, UnsupportedFeature  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
TINY = REPO / "registry" / "embedded" / "tiny-sd"
GOLDEN = json.loads((Path(__file__).parents[3] / "goldens" / "a1111" / "engine.json").read_text(encoding="utf-8"))
LORA_DIR = Path(__file__).parents[3] / "fixtures" / "lora"
LORA_FILE = LORA_DIR / "tiny_sd_random.safetensors"
LATENT_TOL = 1e-4
EXACT: dict[str, bool] = {}


@pytest.fixture(scope="module")
def engine_mod():
    from aigif.diffusion.engines.a1111 import engine

    return engine


@pytest.fixture(scope="module")
def model(engine_mod):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the goldens' setting: same reduction order in the UNet
    try:
        yield engine_mod.A1111Model.from_pretrained(TINY, name="tiny-sd")
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(engine_mod, model):
    return engine_mod.A1111Engine(model, lora_dir=LORA_DIR)


def _params(engine_mod, **fields):
    base = dict(prompt="a red cat", negative_prompt="", width=64, height=64, steps=4, sampler="Euler",
                cfg_scale=7.0, seed=1, rng_source="CPU")
    base.update(fields)
    return engine_mod.A1111Params(**base)


def _latent_summary(latents):
    values = np.ascontiguousarray(latents.detach().cpu().numpy(), dtype="<f4")
    return values, values.reshape(-1)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_golden_case(engine_mod, engine, case):
    params = dict(case["params"])
    for key in ("seed_resize_from", "hr_resize"):
        if key in params:
            params[key] = tuple(params[key])
    result = engine.generate(engine_mod.A1111Params(**params))
    values, flat = _latent_summary(result.latents)
    assert list(values.shape) == case["latent_shape"]
    image = result.image
    assert list(image.shape) == case["pixels_shape"] and image.dtype == np.uint8
    exact = (hashlib.sha256(values.tobytes()).hexdigest() == case["latent_sha256"]
             and hashlib.sha256(image.tobytes()).hexdigest() == case["pixels_sha256"])
    EXACT[case["name"]] = exact
    if exact:
        assert [hashlib.sha256(im.tobytes()).hexdigest() for im in result.images] == case["all_pixels_sha256"]
        return
    deviation = max(abs(float(flat[int(i)]) - float.fromhex(v)) for i, v in case["latent_probes"].items())
    assert deviation <= LATENT_TOL, f"latent probes differ by {deviation}"
    assert abs(float(np.abs(flat).max()) - float.fromhex(case["latent_max_abs"])) <= LATENT_TOL
    pixels = image.reshape(-1)
    worst = max(abs(int(pixels[int(i)]) - v) for i, v in case["pixel_probes"].items())
    assert worst <= 1, f"pixels differ by {worst}"


def test_golden_infotext_extras(engine_mod, engine):
    """The infotext values the engine reports agree with the ones A1111 added (where the
    engine reports them: NGMS, Lora hashes)."""
    case = next(c for c in GOLDEN["cases"] if c["name"].startswith("euler_cfg7_ngms"))
    result = engine.generate(engine_mod.A1111Params(**case["params"]))
    assert result.infotext["NGMS"] == case["a1111_infotext_extras"]["NGMS"]
    downcast = next(c for c in GOLDEN["cases"] if c["name"].endswith("downcast_alphas"))
    result = engine.generate(engine_mod.A1111Params(**downcast["params"]))
    assert result.infotext["Downcast alphas_cumprod"] is downcast["a1111_infotext_extras"]["Downcast alphas_cumprod"]
    lora_case = next(c for c in GOLDEN["cases"] if c["name"].startswith("lora_"))
    result = engine.generate(engine_mod.A1111Params(**lora_case["params"]))
    from aigif.diffusion.engines.a1111 import lora

    assert result.infotext["Lora hashes"] == f"tiny_sd_random: {lora.autov3(LORA_FILE)[:12]}"


def test_lora_fixture_is_the_golden_one():
    assert hashlib.sha256(LORA_FILE.read_bytes()).hexdigest() == GOLDEN["lora_fixture"]["sha256"]
    assert LORA_FILE.stat().st_size < 100_000


def test_lora_changes_pixels_and_restores_weights(engine_mod, engine, model):
    before = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.unet.parameters())).hexdigest()
    te_before = hashlib.sha256(b"".join(p.detach().numpy().tobytes()
                                        for p in model.text_encoder.parameters())).hexdigest()
    case = dict(next(c for c in GOLDEN["cases"] if c["name"] == "lora_dpmpp_2m_karras")["params"])
    with_lora = engine.generate(engine_mod.A1111Params(**case))
    plain = engine.generate(engine_mod.A1111Params(**{**case, "prompt": case["prompt"].replace(
        "<lora:tiny_sd_random:0.8>", "")}))
    assert not np.array_equal(plain.image, with_lora.image)
    after = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.unet.parameters())).hexdigest()
    te_after = hashlib.sha256(b"".join(p.detach().numpy().tobytes()
                                       for p in model.text_encoder.parameters())).hexdigest()
    assert (before, te_before) == (after, te_after)
    # the same LoRA named in the params instead of the prompt gives the same image
    listed = engine.generate(engine_mod.A1111Params(**{**case, "prompt": case["prompt"].replace(
        "<lora:tiny_sd_random:0.8>", ""), "loras": [("tiny_sd_random", 0.8)]}))
    assert np.array_equal(listed.image, with_lora.image)


def test_lora_resolved_by_hashes(tmp_path):
    from aigif.diffusion.engines.a1111 import lora

    renamed = tmp_path / "renamed.safetensors"
    shutil.copyfile(LORA_FILE, renamed)
    library = lora.LoraLibrary(tmp_path)
    whole = hashlib.sha256(LORA_FILE.read_bytes()).hexdigest()
    data = LORA_FILE.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    autov3 = hashlib.sha256(data[8 + header_len:]).hexdigest()
    legacy = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    assert lora.autov3(renamed) == autov3
    assert lora.legacy_model_hash(renamed) == legacy
    for hint in (autov3[:12], whole[:10], whole):
        assert library.resolve("tiny_sd_random_gone", hint).path == renamed
    # the safetensors alias (ss_output_name) finds it by its old name too
    assert library.resolve("tiny_sd_random").path == renamed
    with pytest.raises(ModelUnavailable, match="nothere"):
        library.resolve("nothere", "0123456789ab")


def test_missing_lora_is_refused_naming_it(engine_mod, model, tmp_path):
    (tmp_path / "pickled.pt").write_bytes(b"not loaded")
    engine = engine_mod.A1111Engine(model, lora_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="missing_lora"):
        engine.generate(_params(engine_mod, prompt="<lora:missing_lora:1> cat"))
    with pytest.raises(ModelUnavailable, match="pickled"):
        engine.generate(_params(engine_mod, prompt="<lora:pickled:1> cat"))


def test_lora_for_another_model_is_refused(engine_mod, model, tmp_path):
    from safetensors.torch import save_file

    save_file({"lora_unet_no_such_block_proj.lora_down.weight": torch.zeros(2, 8),
               "lora_unet_no_such_block_proj.lora_up.weight": torch.zeros(8, 2)}, str(tmp_path / "alien.safetensors"))
    save_file({"lora_unet_mid_block_attentions_0_proj_in.hada_w1_a": torch.zeros(2, 8)},
              str(tmp_path / "loha.safetensors"))
    engine = engine_mod.A1111Engine(model, lora_dir=tmp_path)
    with pytest.raises(UnsupportedFeature, match="no_such_block"):
        engine.generate(_params(engine_mod, prompt="<lora:alien:1> cat"))
    with pytest.raises(UnsupportedFeature, match="not a plain LoRA"):
        engine.generate(_params(engine_mod, prompt="<lora:loha:1> cat"))


@pytest.mark.parametrize("fields, error, text", [
    (dict(enable_hr=True, hr_upscaler="R-ESRGAN 4x+"), ModelUnavailable, "R-ESRGAN 4x\\+"),
    (dict(refiner="sdxl_refiner"), UnsupportedFeature, "refiner"),
    (dict(hr_checkpoint="other.safetensors", enable_hr=True), UnsupportedFeature, "other.safetensors"),
    (dict(prompt="<hypernet:anime:1> cat"), UnsupportedFeature, "hypernet"),
    (dict(seed=-1), InvalidSyntax, "seed -1"),
    (dict(sampler="DPM adaptive"), UnsupportedFeature, "DPM adaptive"),
    (dict(schedule_type="Turbo"), UnsupportedFeature, "Turbo"),
    (dict(batch_index=2, batch_size=2), InvalidSyntax, "batch position"),
    (dict(width=65 * 200), InvalidSyntax, "width"),
    (dict(vae="missing-vae.safetensors"), ModelUnavailable, "missing-vae"),
])
def test_refusals_name_what_is_missing(engine_mod, engine, fields, error, text):
    with pytest.raises(error, match=text):
        engine.generate(_params(engine_mod, **fields))


def test_hires_target_resolution():
    from aigif.diffusion.engines.a1111 import hires

    assert hires.target_resolution(512, 768, 1.5, 0, 0) == hires.Target(768, 1152, 0, 0)
    assert hires.target_resolution(512, 768, 2.0, 1024, 0) == hires.Target(1024, 1536, 0, 0)
    assert hires.target_resolution(512, 768, 2.0, 0, 1000) == hires.Target(666, 1000, 0, 0)
    # both given, other aspect ratio: fill, then crop (in latent cells)
    assert hires.target_resolution(512, 768, 2.0, 1024, 1024) == hires.Target(1024, 1536, 0, 64)
    latents = torch.arange(4 * 12 * 10, dtype=torch.float32).reshape(1, 4, 12, 10)
    cut = hires.truncate(latents, hires.Target(80, 96, 3, 5))
    assert cut.shape == (1, 4, 7, 7) and torch.equal(cut, latents[:, :, 2:9, 1:8])


def test_pixel_upscalers_resize_like_pil():
    from PIL import Image

    from aigif.diffusion.engines.a1111 import hires

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 16, 3), dtype=np.uint8)
    near = hires.resize_pixels(image, 32, 48, "Nearest")
    assert np.array_equal(near, np.array(Image.fromarray(image).resize((32, 48), resample=Image.Resampling.NEAREST)))
    lanczos = hires.resize_pixels(image, 32, 48, "Lanczos")
    assert np.array_equal(lanczos, np.array(Image.fromarray(image).resize((32, 48), resample=Image.Resampling.LANCZOS)))
    # 2.5x: A1111's upscaler resizes to 40x60, then (Lanczos) to the multiple of 8 below, 40x56,
    # and resize_image back to 40x60
    odd = hires.resize_pixels(image, 40, 60, "Lanczos")
    once = Image.fromarray(image).resize((40, 60), resample=Image.Resampling.LANCZOS)
    twice = once.resize((40, 56), resample=Image.Resampling.LANCZOS).resize((40, 60), resample=Image.Resampling.LANCZOS)
    assert np.array_equal(odd, np.array(twice)) and not np.array_equal(odd, np.array(once))


def test_pixel_hires_runs_and_says_the_encode_differs(engine_mod, engine):
    result = engine.generate(_params(engine_mod, enable_hr=True, hr_upscaler="Lanczos", hr_scale=1.5,
                                     denoising_strength=0.5, hr_steps=2))
    assert result.image.shape == (96, 96, 3)
    assert any("posterior" in note for note in result.notes)


def test_version_backcompat(engine_mod):
    flags = engine_mod.backcompat(engine_mod.A1111Params(version="v1.5.2", prompt="[a:b:3]", sampler="DDIM"))
    assert (flags.old_prompt_editing, flags.pad_conds_v0, flags.downcast_alphas_cumprod) == (True, True, True)
    flags = engine_mod.backcompat(engine_mod.A1111Params(version="v1.7.0-225-g1234abc", prompt="a"))
    assert (flags.old_prompt_editing, flags.pad_conds_v0, flags.downcast_alphas_cumprod) == (False, False, False)
    flags = engine_mod.backcompat(engine_mod.A1111Params(version="v1.7.0-224-gabc", prompt="[a|b]"))
    assert flags.downcast_alphas_cumprod and not flags.old_prompt_editing
    flags = engine_mod.backcompat(engine_mod.A1111Params(version="f2.0.1v1.10.1-previous-1-g", prompt="[x]",
                                                         downcast_alphas_cumprod=True))
    assert (flags.old_prompt_editing, flags.downcast_alphas_cumprod) == (False, True)


def test_batch_position_gives_that_images_seed(engine_mod, engine):
    """Image 1 of a batch of 2 with infotext seed s is the second image of the batch from s - 1."""
    batch = engine.generate(_params(engine_mod, seed=11, batch_size=2, batch_index=1, sampler="Euler a"))
    assert np.array_equal(batch.image, batch.images[1])
    first = engine.generate(_params(engine_mod, seed=10, batch_size=2, batch_index=0, sampler="Euler a"))
    assert np.array_equal(first.images[1], batch.image)


def test_nan_output_is_refused_as_a1111_does(engine_mod, engine):
    """tiny-sd's CLIP gives this negative prompt a conditioning whose mean is exactly 0 (under
    the suite's portable CPU numerics, one thread), so A1111's "Original" emphasis divides 0 by
    0; A1111's NaN check then stops the generation."""
    from aigif.diffusion.engines.a1111.decode import NaNOutput

    with pytest.raises(NaNOutput, match="NaN"):
        engine.generate(_params(engine_mod, negative_prompt="lowres, bad", steps=2))


def test_vae_override_by_name_and_hash(engine_mod, model, tmp_path):
    """A VAE from the VAE folder, found by file name or by its AutoV2 hash, replaces the
    model's; here it is tiny-sd's own VAE, so the pixels are the same."""
    from safetensors.torch import save_file

    vae_file = tmp_path / "same-vae.safetensors"
    save_file({k: v.contiguous() for k, v in model.vae.state_dict().items()}, str(vae_file))
    autov2 = hashlib.sha256(vae_file.read_bytes()).hexdigest()[:10]
    engine = engine_mod.A1111Engine(model, vae_dir=tmp_path)
    plain = engine.generate(_params(engine_mod, steps=2))
    by_name = engine.generate(_params(engine_mod, steps=2, vae="same-vae.safetensors"))
    by_hash = engine.generate(_params(engine_mod, steps=2, vae="renamed-elsewhere", vae_hash=autov2))
    assert np.array_equal(plain.image, by_name.image) and np.array_equal(plain.image, by_hash.image)
    (tmp_path / "pickled-vae.pt").write_bytes(b"never unpickled")
    with pytest.raises(UnsupportedFeature, match="never pickles"):
        engine.generate(_params(engine_mod, steps=2, vae="pickled-vae.pt"))
