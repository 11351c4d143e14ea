"""End-to-end sampler runs on the embedded tiny-sd against goldens made by running
k-diffusion's own samplers (v0.0.16, as A1111 v1.10 pins it) with A1111's sigmas
(tests/goldens/kdiffusion/README.md).

The same scene is built on both sides (tools/goldens/kdiffusion_samplers.py imports it from
here): a 64x64 image (32x32 latent), fixed random text conditioning, initial noise and
per-step noise from fixed CPU seeds, A1111's CFG combination at cfg 5 and 7.

Tolerance: float32 on CPU with one thread, under the suite's portable CPU numerics
(aigif/diffusion/portable.py), gives the goldens' bits on any x86-64 machine (the run records
whether each case matched bit for bit); a platform the profile does not pin (another torch
release, another architecture) may round the UNet's reductions differently, so the test
accepts max |latent difference| <= 1e-4 on the sampled values and the summary statistics,
and 8-bit pixels within +-1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tiny_sd_scene import (  # noqa: E402  (after the importorskips)
    LATENT_PROBES, LATENT_TOL, PIXEL_PROBES, REPO, SAMPLER_NAMES, SCENE, TINY, compare, conditioning, initial_noise,
    load_tiny_sd, probe_indices, summarise, to_pixels)

GOLDEN_PATH = Path(__file__).parents[2] / "goldens/kdiffusion/samplers.json"

# --- our side -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN_PATH.read_text())


@pytest.fixture(scope="module")
def tiny():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    from aigif.diffusion.kdiffusion.model import DiscreteDenoiser, LCMDenoiser, diffusers_unet_fn, ldm_alphas_cumprod

    unet, vae = load_tiny_sd()
    cfg = json.loads((TINY / "scheduler/scheduler_config.json").read_text())
    alphas_cumprod = ldm_alphas_cumprod(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"],
                                        cfg["beta_schedule"])
    models = {"kdiffusion": DiscreteDenoiser(diffusers_unet_fn(unet), alphas_cumprod),
              "lcm": LCMDenoiser(diffusers_unet_fn(unet), alphas_cumprod)}
    yield models, vae
    torch.set_num_threads(threads)


def run_ours(models, vae, sampler, scale, *, lms_float32_basis=True):
    from aigif.diffusion.engines.a1111.schedules import sampler_spec, sigmas_for
    from aigif.diffusion.kdiffusion import samplers
    from aigif.diffusion.kdiffusion.brownian import BrownianTreeNoiseSampler
    from aigif.diffusion.kdiffusion.model import cfg_denoiser

    spec = sampler_spec(sampler)
    model = models[spec.family]
    sigmas = sigmas_for(model, sampler, "Automatic", SCENE["steps"])
    x = initial_noise() * sigmas[0]
    cond, uncond = conditioning()
    kwargs = {}
    if spec.brownian:
        kwargs["noise_sampler"] = BrownianTreeNoiseSampler(x, sigmas[sigmas > 0].min(), sigmas.max(),
                                                           seed=[SCENE["seed"]])
    else:
        kwargs["noise_sampler"] = samplers.generator_noise(
            x, torch.Generator().manual_seed(SCENE["step_noise_seed"]))
    if spec.solver_type:
        kwargs["solver_type"] = spec.solver_type
    if spec.algorithm == "sample_lms":
        kwargs["float32_basis"] = lms_float32_basis
    with torch.no_grad():
        latent = samplers.SAMPLERS[spec.algorithm](cfg_denoiser(model, cond, uncond, scale), x, sigmas, **kwargs)
        return sigmas, latent, summarise(latent, vae)


def test_golden_covers_every_sampler_at_cfg_5_and_7(golden):
    seen = {(c["sampler"], c["cfg"]) for c in golden["cases"]}
    assert seen == {(s, c) for s in SAMPLER_NAMES for c in SCENE["cfg"]}
    assert golden["scene"] == SCENE


@pytest.mark.parametrize("scale", SCENE["cfg"])
@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_sampler_matches_kdiffusion(tiny, golden, sampler, scale):
    models, vae = tiny
    record = next(c for c in golden["cases"] if c["sampler"] == sampler and c["cfg"] == scale)
    sigmas, latent, summary = run_ours(models, vae, sampler, scale)
    assert [float(v) for v in sigmas.tolist()] == [float.fromhex(h) for h in record["sigmas"]]
    exact, dev, pdev = compare(record, latent, summary)
    assert dev <= LATENT_TOL, f"{sampler} cfg {scale}: latent deviates by {dev}"
    assert pdev <= 1, f"{sampler} cfg {scale}: pixels deviate by {pdev}"
    # +-1 per channel bounds the difference of the pixel sums by the number of channels
    assert abs(summary["pixels_sum"] - record["pixels_sum"]) <= SCENE["width"] * SCENE["height"] * 3
    assert torch.isfinite(latent).all()


def test_lms_with_float64_basis_is_within_tolerance(tiny, golden):
    """A1111 v1.10 pins NumPy 1.26, where k-diffusion's LMS coefficients are evaluated in
    float64; the goldens were made under NumPy 2 (float32).  The two differ in the last bits
    of the coefficients only."""
    models, vae = tiny
    record = next(c for c in golden["cases"] if c["sampler"] == "LMS" and c["cfg"] == 7.0)
    _sigmas, latent, summary = run_ours(models, vae, "LMS", 7.0, lms_float32_basis=False)
    _exact, dev, pdev = compare(record, latent, summary)
    assert dev <= LATENT_TOL and pdev <= 1


def test_different_step_noise_changes_ancestral_result(tiny):
    from aigif.diffusion.kdiffusion import samplers
    from aigif.diffusion.kdiffusion.model import cfg_denoiser

    models, _vae = tiny
    model = models["kdiffusion"]
    from aigif.diffusion.engines.a1111.schedules import sigmas_for

    sigmas = sigmas_for(model, "Euler a", "Automatic", 4)
    cond, uncond = conditioning()
    den = cfg_denoiser(model, cond, uncond, 7.0)
    x = initial_noise() * sigmas[0]
    a = samplers.sample_euler_ancestral(den, x, sigmas, noise_sampler=samplers.generator_noise(x, torch.Generator().manual_seed(1)))
    b = samplers.sample_euler_ancestral(den, x, sigmas, noise_sampler=samplers.generator_noise(x, torch.Generator().manual_seed(2)))
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="noise_sampler"):
        samplers.sample_euler_ancestral(den, x, sigmas)
    with pytest.raises(ValueError, match="noise_sampler"):
        samplers.sample_euler(den, x, sigmas, s_churn=1.0)


def test_lms_coefficients_integrate_the_lagrange_basis_exactly():
    import numpy as np

    from aigif.diffusion.kdiffusion.samplers import linear_multistep_coeff

    t = np.array([10.0, 7.0, 4.5, 3.0, 2.0], dtype=np.float64)
    # the basis polynomials sum to 1, so their integrals sum to the interval length
    for order in (1, 2, 3, 4):
        i = order - 1 + (1 if order < 4 else 0)
        total = sum(linear_multistep_coeff(order, t, i, j) for j in range(order))
        assert total == pytest.approx(t[i + 1] - t[i], rel=1e-14)
    # first order: the integral of 1
    assert linear_multistep_coeff(1, t, 0, 0) == pytest.approx(-3.0, rel=1e-15)
    with pytest.raises(ValueError):
        linear_multistep_coeff(3, t, 1, 0)


def test_brownian_noise_is_independent_of_query_order():
    from aigif.diffusion.kdiffusion.brownian import BrownianTreeNoiseSampler

    x = torch.zeros(2, 4, 8, 8)
    a = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=[1, 2])
    b = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=[1, 2])
    first = a(torch.tensor(3.0), torch.tensor(2.0))
    b(torch.tensor(10.0), torch.tensor(5.0))
    assert torch.equal(first, b(torch.tensor(3.0), torch.tensor(2.0)))
    # one tree per image seed: image 0 is the same whatever the other seed
    c = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=[1, 99])
    assert torch.equal(first[0], c(torch.tensor(3.0), torch.tensor(2.0))[0])
    assert not torch.equal(first[1], c(torch.tensor(3.0), torch.tensor(2.0))[1])
    # unit variance, roughly
    many = torch.stack([BrownianTreeNoiseSampler(x[:1], 0.03, 14.6, seed=s)(torch.tensor(3.0), torch.tensor(2.0))
                        for s in range(40)])
    assert 0.8 < float(many.std()) < 1.2
