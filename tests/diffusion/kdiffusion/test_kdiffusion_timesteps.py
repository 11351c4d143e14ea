"""A1111's timestep samplers (DDIM, DDIM CFG++, PLMS, UniPC) on the embedded tiny-sd against
goldens made by running A1111 v1.10's own sampler code (tests/goldens/kdiffusion/README.md,
"timesteps.json").

Scene: tests/diffusion/kdiffusion/test_kdiffusion_samplers.py's (64x64, fixed random conditioning, initial noise from
seed 1234, per-step noise from seed 5678), 12 steps, cfg 5 and 7; UniPC's options one at a time
at cfg 7.  Tolerance as there: the goldens' bits under portable CPU numerics; on a platform the
profile does not pin, max |latent difference| <= 1e-4 on the probes and max |x|, 8-bit pixels within +-1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tiny_sd_scene import (  # noqa: E402  (after the importorskips)
    LATENT_TOL, SCENE, TINY, compare, conditioning, initial_noise, load_tiny_sd, summarise)

GOLDEN_PATH = Path(__file__).parents[2] / "goldens/kdiffusion/timesteps.json"
TIMESTEP_COUNTS = (1, 2, 3, 7, 10, 12, 20, 30, 50, 150, 999, 1000)
DDIM_SCHEDULE_STEPS = (7, 10, 12, 20, 30, 50, 150)
DDIM_SCHEDULE_ETAS = (0.0, 0.33, 0.5, 1.0)

# A1111's option names as its settings store them; the defaults are bh1 / time_uniform / 3 / True.
UNIPC_OPTION_CASES = (
    {"uni_pc_variant": "bh2"},
    {"uni_pc_variant": "vary_coeff"},
    {"uni_pc_skip_type": "logSNR"},
    {"uni_pc_skip_type": "time_quadratic"},
    {"uni_pc_order": 1},
    {"uni_pc_order": 2},
    {"uni_pc_order": 4, "uni_pc_lower_order_final": False},
    {"uni_pc_lower_order_final": False},
)
CASES = tuple(
    [{"sampler": "DDIM", "eta": 0.0, "cfg": c} for c in SCENE["cfg"]]
    + [{"sampler": "DDIM", "eta": 0.5, "cfg": c} for c in SCENE["cfg"]]
    + [{"sampler": "DDIM CFG++", "eta": 0.0, "cfg": c} for c in SCENE["cfg"]]
    + [{"sampler": "DDIM CFG++", "eta": 0.5, "cfg": 7.0}]
    + [{"sampler": "PLMS", "cfg": c} for c in SCENE["cfg"]]
    + [{"sampler": "UniPC", "cfg": c} for c in SCENE["cfg"]]
    + [{"sampler": "UniPC", "cfg": 7.0, "options": o} for o in UNIPC_OPTION_CASES]
)
UNIPC_OPTION_NAMES = {"uni_pc_variant": "variant", "uni_pc_skip_type": "skip_type",
                      "uni_pc_order": "order", "uni_pc_lower_order_final": "lower_order_final"}


def case_id(case) -> str:
    parts = [case["sampler"], f"cfg{case['cfg']:g}"]
    if "eta" in case:
        parts.append(f"eta{case['eta']:g}")
    parts += [f"{k}={v}" for k, v in sorted(case.get("options", {}).items())]
    return " ".join(parts)


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN_PATH.read_text())


@pytest.fixture(scope="module")
def tiny():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    from aigif.diffusion.engines.a1111.timesteps import TimestepModel
    from aigif.diffusion.kdiffusion.model import diffusers_unet_fn, ldm_alphas_cumprod

    unet, vae = load_tiny_sd()
    cfg = json.loads((TINY / "scheduler/scheduler_config.json").read_text())
    alphas_cumprod = ldm_alphas_cumprod(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"],
                                        cfg["beta_schedule"])
    calls = []
    unet_fn = diffusers_unet_fn(unet)

    def counting(x, t, cond):
        calls.append(float(t[0]).hex())
        return unet_fn(x, t, cond)

    yield TimestepModel(counting, alphas_cumprod), vae, calls
    torch.set_num_threads(threads)


def run_ours(model, vae, case, *, with_noise=True):
    from aigif.diffusion.engines.a1111 import timesteps as ts
    from aigif.diffusion.engines.a1111.schedules import sampler_spec
    from aigif.diffusion.kdiffusion.samplers import generator_noise

    spec = sampler_spec(case["sampler"])
    cond, uncond = conditioning()
    guided = ts.GuidedEps(model, cond, uncond, case["cfg"])
    x = initial_noise()
    kwargs = {}
    if "eta" in case:
        kwargs["eta"] = case["eta"]
        if with_noise:
            kwargs["noise_sampler"] = generator_noise(x, torch.Generator().manual_seed(SCENE["step_noise_seed"]))
    kwargs.update({UNIPC_OPTION_NAMES[k]: v for k, v in case.get("options", {}).items()})
    with torch.no_grad():
        latent = ts.SAMPLERS[spec.algorithm](guided, x, ts.timesteps_for(SCENE["steps"]), **kwargs)
        return latent, summarise(latent, vae)


def test_golden_covers_every_case(golden):
    assert [c["id"] for c in golden["cases"]] == [case_id(c) for c in CASES]
    assert golden["scene"] == SCENE


def test_timesteps_match_a1111(golden):
    from aigif.diffusion.engines.a1111.timesteps import timesteps_for

    for steps in TIMESTEP_COUNTS:
        assert timesteps_for(steps).tolist() == golden["timesteps"][str(steps)], steps
    assert timesteps_for(12, discard_penultimate=True).tolist() == golden["discard_penultimate"]["12"]
    for bad in (0, -1, 1001):
        with pytest.raises(ValueError, match="steps"):
            timesteps_for(bad)


def test_ddim_schedule_matches_a1111(golden):
    """alphas, previous alphas (float64), sqrt(1 - alphas) and the eta sigmas, bit for bit."""
    from aigif.diffusion.engines.a1111.timesteps import _ddim_schedule, timesteps_for
    from aigif.diffusion.kdiffusion.model import ldm_alphas_cumprod

    alphas_cumprod = ldm_alphas_cumprod()
    for steps in DDIM_SCHEDULE_STEPS:
        for eta in DDIM_SCHEDULE_ETAS:
            ours = _ddim_schedule(alphas_cumprod, timesteps_for(steps), eta)
            want = golden["ddim_schedules"][f"{steps} {eta:g}"]
            for part, expected in zip(ours, want):
                assert [float(v).hex() for v in part.tolist()] == expected, (steps, eta)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sampler_matches_a1111(tiny, golden, case):
    model, vae, calls = tiny
    record = next(c for c in golden["cases"] if c["id"] == case_id(case))
    calls.clear()
    latent, summary = run_ours(model, vae, case)
    # the UNet is called at the same (continuous) timesteps, in the same order
    assert calls == record["model_timesteps"]
    exact, dev, pdev = compare(record, latent, summary)
    assert dev <= LATENT_TOL, f"{case_id(case)}: latent deviates by {dev}"
    assert pdev <= 1, f"{case_id(case)}: pixels deviate by {pdev}"
    assert abs(summary["pixels_sum"] - record["pixels_sum"]) <= SCENE["width"] * SCENE["height"] * 3
    assert torch.isfinite(latent).all()


def test_ddim_eta_0_needs_no_noise_and_matches(tiny, golden):
    """At eta 0 A1111 still draws (and multiplies by 0) a noise tensor each step; leaving the
    noise out must give the same image."""
    model, vae, _calls = tiny
    case = CASES[1]
    record = next(c for c in golden["cases"] if c["id"] == case_id(case))
    latent, summary = run_ours(model, vae, case, with_noise=False)
    _exact, dev, pdev = compare(record, latent, summary)
    assert dev <= LATENT_TOL and pdev <= 1


def test_eta_noise_is_required_and_changes_the_result(tiny):
    from aigif.diffusion.engines.a1111 import timesteps as ts
    from aigif.diffusion.kdiffusion.samplers import generator_noise

    model, _vae, _calls = tiny
    cond, uncond = conditioning()
    guided = ts.GuidedEps(model, cond, uncond, 7.0)
    x = initial_noise()
    steps = ts.timesteps_for(4)
    with pytest.raises(ValueError, match="noise_sampler"):
        ts.ddim(guided, x, steps, eta=0.5)
    a = ts.ddim(guided, x, steps, eta=0.5, noise_sampler=generator_noise(x, torch.Generator().manual_seed(1)))
    b = ts.ddim(guided, x, steps, eta=0.5, noise_sampler=generator_noise(x, torch.Generator().manual_seed(2)))
    assert not torch.equal(a, b)
    with pytest.raises(TypeError):
        ts.ddim_cfgpp(lambda x, t: x, x, steps)


def test_unipc_refuses_what_a1111_cannot_run(tiny):
    from aigif.diffusion.engines.a1111 import timesteps as ts

    model, _vae, _calls = tiny
    cond, uncond = conditioning()
    guided = ts.GuidedEps(model, cond, uncond, 7.0)
    x = initial_noise()
    with pytest.raises(ValueError, match="order"):
        ts.unipc(guided, x, ts.timesteps_for(2), order=3)   # 2 timesteps < order 3
    with pytest.raises(ValueError, match="variant"):
        ts.unipc(guided, x, ts.timesteps_for(4), variant="bh3")
    with pytest.raises(ValueError, match="skip type"):
        ts.unipc(guided, x, ts.timesteps_for(4), skip_type="karras")
    batch2 = ts.GuidedEps(model, cond.repeat(2, 1, 1), uncond.repeat(2, 1, 1), 7.0)
    with pytest.raises(ValueError, match="batch size 1"):
        ts.unipc(batch2, x.repeat(2, 1, 1, 1), ts.timesteps_for(4), variant="vary_coeff")


def test_batch_of_two_images_samples_each_like_alone(tiny):
    """Per-image quantities broadcast per image: a batch gives each image what it gets alone
    (up to the UNet's float32 rounding, which depends on the batch size)."""
    from aigif.diffusion.engines.a1111 import timesteps as ts

    model, _vae, _calls = tiny
    cond, uncond = conditioning()
    x = initial_noise()
    x2 = torch.cat([x, -x])
    steps = ts.timesteps_for(3)
    for sampler in (ts.ddim, ts.plms, ts.unipc):
        single = sampler(ts.GuidedEps(model, cond, uncond, 7.0), x, steps)
        pair = sampler(ts.GuidedEps(model, cond.repeat(2, 1, 1), uncond.repeat(2, 1, 1), 7.0), x2, steps)
        assert torch.allclose(pair[0], single[0], rtol=1e-4, atol=1e-4), sampler.__name__
        assert not torch.allclose(pair[1], single[0], rtol=1e-2, atol=1e-2)


def test_interpolation_matches_the_sorting_rule_at_knots():
    """UniPC's reference interpolation sorts x in among the knots with x first among equals, so
    at an inner knot it evaluates the segment on its left (in float32 that need not give the
    knot's y exactly), and past either end it extends the outermost segment."""
    from aigif.diffusion.engines.a1111.timesteps import _interpolate

    xp = torch.tensor([0.1, 0.3, 0.7])
    yp = torch.tensor([0.3, 0.7, 0.1])

    def on_segment(x, i):
        x = torch.tensor([x])
        return float(yp[i] + (x - xp[i]) * (yp[i + 1] - yp[i]) / (xp[i + 1] - xp[i]))

    got = _interpolate(torch.tensor([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]), xp, yp).tolist()
    want = [on_segment(0.0, 0), on_segment(0.1, 0), on_segment(0.2, 0), on_segment(0.3, 0),
            on_segment(0.5, 1), on_segment(0.7, 1), on_segment(0.9, 1)]
    assert got == want
    # the left segment at the knot 0.3 misses y = 0.7 by an ulp, so the rule is observable
    assert on_segment(0.3, 0) != float(yp[1]) and on_segment(0.3, 1) == float(yp[1])


def test_timestep_family_is_selectable_by_a1111_names():
    from aigif.diffusion.engines.a1111 import schedules
    from aigif.diffusion.engines.a1111 import timesteps as ts

    for name in ("DDIM", "DDIM CFG++", "PLMS", "UniPC"):
        spec = schedules.sampler_spec(name)
        assert spec.family == "timesteps" and spec.algorithm in ts.SAMPLERS
        with pytest.raises(ValueError, match="timesteps"):
            schedules.sigmas_for(None, name, "Automatic", 12)
    assert schedules.sampler_spec("DDIM").eta_noise and not schedules.sampler_spec("PLMS").eta_noise
