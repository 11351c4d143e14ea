"""The ComfyUI engine's numerics against goldens made by running ComfyUI's own code
(tests/goldens/comfyui/README.md names the commit, functions and inputs).

- prepare_noise for many seeds, shapes and batch indexes: bit-exact (sha256 of float32);
- ModelSamplingDiscrete's levels and maps, calculate_sigmas for every scheduler at
  1/2/3/7/10/20/30 steps, KSampler's denoise and KSamplerAdvanced's start/end: bit-exact;
- end-to-end KSampler runs on the embedded tiny-sd (test further below): see its docstring
  for the tolerance.
The case lists live here; the golden scripts (tools/goldens/comfyui_*.py) import them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

GOLDENS = Path(__file__).parents[3] / "goldens/comfyui"

_SEEDS = (0, 1, 42, 1234, 5678, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 156680208700286,
          2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1)
_SHAPES = ([1, 4, 32, 32], [2, 4, 64, 64], [1, 4, 96, 128], [4, 4, 8, 8], [1, 16, 16, 16], [3, 4, 5, 7])
_BATCH_INDEXES = (None, [0], [1], [3], [0, 1, 2], [2, 0], [1, 1], [5, 2, 2, 0])
NOISE_CASES = ([(s, [1, 4, 32, 32], None) for s in _SEEDS]
               + [(1234, shape, None) for shape in _SHAPES]
               + [(seed, [len(bi), 4, 16, 16], bi) for seed in (0, 42, 2 ** 64 - 1)
                  for bi in _BATCH_INDEXES if bi is not None])

SIGMA_PROBES = (0.0292, 0.03, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 14.6146, 14.62, 100.0)
TIMESTEP_PROBES = (0.0, 0.5, 1.0, 1.25, 10.0, 499.5, 500.0, 998.999, 999.0, 1000.0, -3.0)
PERCENT_PROBES = (0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0)
SCHEDULE_STEPS = (1, 2, 3, 7, 10, 20, 30)
LATENT_SHAPE = [1, 4, 8, 8]
# (sampler, scheduler, steps, denoise, start_step, last_step, force_full_denoise)
KSAMPLER_CASES = (
    [("euler", sch, 20, 0.6, None, None, False) for sch in
     ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
      "linear_quadratic", "kl_optimal")]
    + [("dpm_2", "karras", 20, 0.6, None, None, False), ("uni_pc", "normal", 20, 1.0, None, None, False),
       ("euler", "normal", 20, 0.5, None, None, False), ("euler", "karras", 10, 0.35, None, None, False),
       ("euler", "normal", 20, 0.0, None, None, False), ("euler", "normal", 20, 0.99995, None, None, False),
       ("euler", "karras", 30, 1.0, 0, 20, False), ("euler", "karras", 30, 1.0, 20, 10000, False),
       ("euler", "karras", 30, 1.0, 0, 20, True), ("euler", "normal", 25, 1.0, 5, 15, True),
       ("euler", "normal", 25, 1.0, 5, 15, False), ("euler", "normal", 25, 1.0, 25, 10000, False),
       ("euler", "normal", 25, 1.0, 24, 10000, False), ("dpm_2", "karras", 20, 1.0, 10, 10000, False),
       ("euler", "simple", 20, 0.6, 4, 8, True)]
)


def _hexes(t):
    return [float(v).hex() for v in t.reshape(-1).tolist()]


def _sha(t):
    return hashlib.sha256(t.contiguous().float().numpy().tobytes()).hexdigest()


@pytest.fixture(scope="module")
def numerics():
    return json.loads((GOLDENS / "numerics.json").read_text())


@pytest.fixture(scope="module")
def ms():
    from aigif.diffusion.engines.comfyui.model_sampling import ModelSamplingDiscrete

    return ModelSamplingDiscrete()


def test_golden_case_lists_match(numerics):
    assert [[c["seed"], c["shape"], c["batch_index"]] for c in numerics["noise"]] == [list(c) for c in NOISE_CASES]
    assert len(numerics["ksampler"]) == len(KSAMPLER_CASES)
    assert len(numerics["schedules"]) == 9 * len(SCHEDULE_STEPS)


def test_prepare_noise_bit_exact(numerics):
    from aigif.diffusion.engines.comfyui.noise import prepare_noise

    for case, golden in zip(NOISE_CASES, numerics["noise"]):
        seed, shape, batch_index = case
        assert (golden["seed"], golden["shape"], golden["batch_index"]) == (seed, shape, batch_index)
        out = prepare_noise(shape, seed, batch_index)
        assert list(out.shape) == golden["out_shape"], case
        assert _sha(out) == golden["sha256"], case


def test_prepare_noise_refuses_bad_input():
    from aigif.diffusion.engines.comfyui.noise import prepare_noise

    for seed in (-1, 2 ** 64, 1.5, True):
        with pytest.raises(ValueError):
            prepare_noise([1, 4, 8, 8], seed)
    with pytest.raises(ValueError):
        prepare_noise([1, 4, 8, 8], 0, [])
    with pytest.raises(ValueError):
        prepare_noise([1, 4, 8, 8], 0, [-1])


def test_default_noise_sampler_is_a_fresh_seeded_stream():
    """On the CPU ComfyUI's per-step noise restarts from the seed: its first draw is the
    initial noise itself (a known ComfyUI property the engine must keep)."""
    from aigif.diffusion.engines.comfyui.noise import default_noise_sampler, prepare_noise

    x = torch.zeros(1, 4, 8, 8)
    draw = default_noise_sampler(x, 77)
    first, second = draw(None, None), draw(None, None)
    assert torch.equal(first, prepare_noise([1, 4, 8, 8], 77))
    assert not torch.equal(first, second)
    assert torch.equal(default_noise_sampler(x, 77)(None, None), first)


def test_model_sampling_levels_and_maps(numerics, ms):
    golden = numerics["model"]
    assert _sha(ms.sigmas) == golden["sigmas_sha256"]
    assert _sha(ms.log_sigmas) == golden["log_sigmas_sha256"]
    probes = torch.tensor(SIGMA_PROBES, dtype=torch.float32)
    assert [int(v) for v in ms.timestep(probes).tolist()] == golden["timestep"]
    assert _hexes(ms.sigma(torch.tensor(TIMESTEP_PROBES, dtype=torch.float32))) == golden["sigma"]
    assert [float(ms.percent_to_sigma(p)).hex() for p in PERCENT_PROBES] == golden["percent_to_sigma"]


def test_model_sampling_differs_from_a1111_levels(ms):
    """ComfyUI's float64 cumprod/sigmas are not A1111's float32 ones: the golden comparison
    above could not pass with the A1111 table."""
    from aigif.diffusion.kdiffusion.model import DiscreteSchedule, ldm_alphas_cumprod

    a1111 = DiscreteSchedule.from_alphas_cumprod(ldm_alphas_cumprod())
    assert not torch.equal(a1111.sigmas, ms.sigmas)
    assert torch.allclose(a1111.sigmas, ms.sigmas, rtol=1e-4)


def test_calculate_sigmas_every_scheduler_bit_exact(numerics, ms):
    from aigif.diffusion.engines.comfyui.schedulers import SCHEDULER_NAMES, calculate_sigmas

    seen = set()
    for golden in numerics["schedules"]:
        name, steps = golden["scheduler"], golden["steps"]
        seen.add(name)
        assert _hexes(calculate_sigmas(ms, name, steps)) == golden["sigmas"], (name, steps)
    assert seen == set(SCHEDULER_NAMES)


def test_unknown_scheduler_refused(ms):
    from aigif.diffusion.engines.comfyui.schedulers import calculate_sigmas

    with pytest.raises(ValueError, match="unknown ComfyUI scheduler"):
        calculate_sigmas(ms, "Karras", 10)
    with pytest.raises(ValueError):
        calculate_sigmas(ms, "karras", 0)


def test_ksampler_denoise_and_step_window_bit_exact(numerics, ms):
    from aigif.diffusion.engines.comfyui.schedulers import ksampler_sigmas, step_window

    for case, golden in zip(KSAMPLER_CASES, numerics["ksampler"]):
        sampler, scheduler, steps, denoise, start, last, force = case
        sigmas = ksampler_sigmas(ms, sampler, scheduler, steps, denoise)
        assert _hexes(sigmas) == golden["set_steps_sigmas"], case
        window = step_window(sigmas, start, last, force)
        if not sigmas.numel():
            continue  # ComfyUI's CFGGuider returns the latent for an empty schedule
        assert window.skip == golden["skipped"], case
        if not window.skip:
            assert _hexes(window.sigmas) == golden["sampled_sigmas"], case
        assert _hexes(sigmas) == golden["set_steps_sigmas"], "step_window must not change its input"


# --- end-to-end KSampler runs on the embedded tiny-sd --------------------------------------
#
# Scene: tests/diffusion/kdiffusion/test_kdiffusion_samplers.py's tiny-sd UNet/VAE and fixed random conditioning
# (seeds 11 / 12), a 1x4x32x32 latent (64x64 pixels through tiny-sd's 2x VAE), seed 1234
# (prepare_noise and the samplers' own noise), 12 steps.  Tolerance: the goldens'
# bits under the suite's portable CPU numerics, on any x86-64 machine; a platform the
# profile does not pin may round the UNet's float32 reductions differently, so max |latent difference| <= 1e-4 (probes, max |x|) and 8-bit
# pixels within +-1 are accepted, and the run says how many matched bit for bit.

COMFYUI_COMMIT = "637221995f7424a561bd825de3e61ea117dfe1e3"
SAMPLER_SCENE = {"latent_shape": [1, 4, 32, 32], "seed": 1234, "steps": 12, "cond_seed": 11,
                 "uncond_seed": 12, "cond_shape": [1, 77, 32]}
SAMPLER_NAMES = ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms",
                 "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde",
                 "ddim", "uni_pc", "lcm", "res_multistep")


def _ks(sampler, scheduler, cfg, **extra):
    case = {"node": "KSampler", "seed": SAMPLER_SCENE["seed"], "steps": SAMPLER_SCENE["steps"],
            "cfg": cfg, "sampler": sampler, "scheduler": scheduler}
    case.update(extra)
    case.setdefault("id", f"{sampler}/{scheduler}/cfg{cfg:g}")
    return case


SAMPLER_CASES = (
    [_ks(name, "normal", cfg) for name in SAMPLER_NAMES for cfg in (5.0, 7.0)]
    + [_ks("dpmpp_2m", "karras", 7.0), _ks("dpmpp_sde", "karras", 7.0), _ks("dpmpp_2m_sde", "karras", 7.0),
       _ks("dpmpp_2m_sde_heun", "exponential", 7.0), _ks("uni_pc_bh2", "normal", 7.0),
       _ks("res_multistep_ancestral", "simple", 7.0), _ks("ddim", "ddim_uniform", 7.0),
       _ks("euler_ancestral", "simple", 1.0), _ks("euler_ancestral", "beta", 7.0, batch=2, id="euler_ancestral/beta/cfg7/batch2"),
       _ks("dpmpp_2m", "karras", 7.0, denoise=0.6, latent_from="euler/normal/cfg7", id="img2img/dpmpp_2m/karras/denoise0.6"),
       {"node": "KSamplerAdvanced", "id": "two-pass/1", "add_noise": "enable", "seed": 1234, "steps": 12, "cfg": 7.0,
        "sampler": "euler_ancestral", "scheduler": "karras", "start_at_step": 0, "end_at_step": 8,
        "return_with_leftover_noise": "enable"},
       {"node": "KSamplerAdvanced", "id": "two-pass/2", "add_noise": "disable", "seed": 1234, "steps": 12, "cfg": 7.0,
        "sampler": "dpmpp_2m", "scheduler": "karras", "start_at_step": 8, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "latent_from": "two-pass/1"}]
)
LATENT_PROBES = 64
PIXEL_PROBES = 64
LATENT_TOL = 1e-4


def _probe_indices(count, size):
    step = max(size // count, 1)
    return [min(i * step + (i % step), size - 1) for i in range(count)]


def summarise_latent(latent):
    flat = latent.reshape(-1)
    return {"latent_shape": list(latent.shape),
            "latent_sha256": hashlib.sha256(latent.contiguous().float().numpy().tobytes()).hexdigest(),
            "latent_max_abs": float(flat.abs().max()).hex(),
            "latent_probes": [float(flat[i]).hex() for i in _probe_indices(LATENT_PROBES, flat.numel())]}


def summarise_pixels(pixels):
    flat = pixels.reshape(-1)
    return {"pixels_shape": list(pixels.shape), "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
            "pixels_sum": int(flat.astype("int64").sum()),
            "pixel_probes": [int(flat[i]) for i in _probe_indices(PIXEL_PROBES, flat.size)]}


@pytest.fixture(scope="module")
def tiny_comfy():
    pytest.importorskip("diffusers")
    from aigif.diffusion.engines.comfyui.guidance import ComfyModel
    from aigif.diffusion.engines.comfyui.model_sampling import ModelSamplingDiscrete
    from aigif.diffusion.kdiffusion.model import diffusers_unet_fn

    import tiny_sd_scene as K

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    unet, vae = K.load_tiny_sd()
    yield ComfyModel(diffusers_unet_fn(unet), ModelSamplingDiscrete()), vae, K.conditioning()
    torch.set_num_threads(threads)


def run_case(model, vae, conditioning, case, results):
    from aigif.diffusion.engines.comfyui.ksampler import common_ksampler, to_pixels

    cond, uncond = conditioning
    if case.get("latent_from"):
        latent = results[case["latent_from"]]
    else:
        latent = torch.zeros([case.get("batch", 1)] + SAMPLER_SCENE["latent_shape"][1:])
    batch = latent.shape[0]
    common = dict(seed=case["seed"], steps=case["steps"], cfg=case["cfg"], sampler_name=case["sampler"],
                  scheduler=case["scheduler"], latent_image=latent)
    if case["node"] == "KSampler":
        out = common_ksampler(model, cond.repeat(batch, 1, 1), uncond.repeat(batch, 1, 1),
                              denoise=case.get("denoise", 1.0), **common)
    else:
        out = common_ksampler(model, cond.repeat(batch, 1, 1), uncond.repeat(batch, 1, 1),
                              add_noise=case["add_noise"] == "enable", start_step=case["start_at_step"],
                              last_step=case["end_at_step"],
                              force_full_denoise=case["return_with_leftover_noise"] != "enable", **common)
    results[case["id"]] = out
    with torch.no_grad():
        image = vae.decode(out, return_dict=False)[0]
    return out, to_pixels(image)


def test_ksampler_end_to_end_against_comfyui(tiny_comfy):
    import numpy as np

    golden = json.loads((GOLDENS / "samplers.json").read_text())
    assert golden["comfyui_commit"] == COMFYUI_COMMIT
    by_id = {c["id"]: c for c in golden["cases"]}
    assert set(by_id) == {c["id"] for c in SAMPLER_CASES}
    model, vae, conditioning = tiny_comfy
    results, exact, worst_latent, worst_pixel = {}, 0, 0.0, 0
    for case in SAMPLER_CASES:
        want = by_id[case["id"]]
        latent, pixels = run_case(model, vae, conditioning, case, results)
        got = summarise_latent(latent)
        got_pixels = summarise_pixels(pixels)
        assert got["latent_shape"] == want["latent_shape"], case["id"]
        assert got_pixels["pixels_shape"] == want["pixels_shape"], case["id"]
        if got["latent_sha256"] == want["latent_sha256"] and got_pixels["pixels_sha256"] == want["pixels_sha256"]:
            exact += 1
            continue
        ours = [float.fromhex(v) for v in got["latent_probes"] + [got["latent_max_abs"]]]
        theirs = [float.fromhex(v) for v in want["latent_probes"] + [want["latent_max_abs"]]]
        dev = max(abs(a - b) for a, b in zip(ours, theirs))
        pix = int(np.max(np.abs(np.array(got_pixels["pixel_probes"]) - np.array(want["pixel_probes"]))))
        worst_latent, worst_pixel = max(worst_latent, dev), max(worst_pixel, pix)
        assert dev <= LATENT_TOL, (case["id"], dev)
        assert pix <= 1, (case["id"], pix)
        assert abs(got_pixels["pixels_sum"] - want["pixels_sum"]) <= pixels.size, case["id"]
    print(f"ComfyUI KSampler goldens: {exact}/{len(SAMPLER_CASES)} bit-exact, "
          f"largest latent deviation {worst_latent:g}, largest pixel deviation {worst_pixel}")
