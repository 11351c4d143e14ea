"""Sigma schedules against goldens made by running A1111 v1.10's and k-diffusion's own code
(tests/goldens/kdiffusion/README.md).  Every comparison is bit-exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from aigif.diffusion.engines.a1111 import schedules as a1111  # noqa: E402
from aigif.diffusion.kdiffusion import schedules as ks  # noqa: E402
from aigif.diffusion.kdiffusion.model import DiscreteSchedule, ldm_alphas_cumprod  # noqa: E402

GOLDEN = json.loads((Path(__file__).parents[2] / "goldens/kdiffusion/schedules.json").read_text())


def floats(hexes):
    return [float.fromhex(h) for h in hexes]


def values(t):
    return [float(v) for v in t.reshape(-1).tolist()]


@pytest.fixture(scope="module")
def model():
    cfg = GOLDEN["model_config"]
    ac = ldm_alphas_cumprod(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"], cfg["beta_schedule"])
    return DiscreteSchedule.from_alphas_cumprod(ac)


def test_training_levels_match_ldm_bit_for_bit(model):
    cfg = GOLDEN["model_config"]
    ac = ldm_alphas_cumprod(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"], cfg["beta_schedule"])
    assert values(ac) == floats(GOLDEN["model"]["alphas_cumprod"])
    assert values(model.sigmas) == floats(GOLDEN["model"]["sigmas"])


def test_sigma_timestep_maps(model):
    g = GOLDEN["model"]
    probe = torch.tensor(floats(g["probe_sigmas"]), dtype=torch.float32)
    assert values(model.sigma_to_t(probe)) == floats(g["sigma_to_t"])
    assert model.sigma_to_t(probe, quantize=True).tolist() == g["sigma_to_t_quantized"]
    t = torch.tensor(floats(g["probe_t"]), dtype=torch.float32)
    assert values(model.t_to_sigma(t)) == floats(g["t_to_sigma"])


def test_downcast_alphas_differ_from_full_precision():
    full = ldm_alphas_cumprod()
    half = ldm_alphas_cumprod(downcast_to_fp16=True)
    assert half.dtype == torch.float32
    assert not torch.equal(full, half)
    assert torch.equal(half, full.half().float())


@pytest.mark.parametrize("case", GOLDEN["closed_forms"], ids=lambda c: f"{c['fn']}-{c['n']}")
def test_closed_forms(case):
    fn = {"get_sigmas_karras": ks.karras, "get_sigmas_exponential": ks.exponential,
          "get_sigmas_polyexponential": ks.polyexponential, "get_sigmas_vp": ks.vp}[case["fn"]]
    assert values(fn(case["n"], *case["args"])) == floats(case["sigmas"])


OPTION_NAMES = {"rho": "rho", "sigma_min": "sigma_min", "sigma_max": "sigma_max",
                "beta_dist_alpha": "beta_alpha", "beta_dist_beta": "beta_beta",
                "use_old_karras_scheduler_sigmas": "old_karras_sigmas",
                "always_discard_next_to_last_sigma": "always_discard_penultimate", "sdxl": "sdxl"}


def case_id(c):
    opts = ",".join(f"{k}={v}" for k, v in c["options"].items())
    return f"{c['sampler']}-{c['schedule']}-{c['steps']}" + (f"-{opts}" if opts else "")


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=case_id)
def test_a1111_schedule(model, case):
    options = a1111.ScheduleOptions(**{OPTION_NAMES[k]: v for k, v in case["options"].items()})
    got = a1111.sigmas_for(model, case["sampler"], case["schedule"], case["steps"], options)
    assert got.dtype == torch.float32
    assert values(got) == floats(case["sigmas"])


def test_golden_covers_every_schedule_type_at_10_20_30():
    seen = {(c["schedule"], c["steps"]) for c in GOLDEN["cases"] if not c["options"]}
    for label in a1111.SCHEDULE_TYPES:
        if label == "SGMUniform":
            continue
        for steps in (10, 20, 30):
            assert (label, steps) in seen


def test_beta_quantile_is_accurate():
    # symmetric distribution: the median is exactly 1/2; Beta(1, 1) is uniform
    assert ks.beta_ppf(0.5, 0.6, 0.6) == pytest.approx(0.5, abs=1e-15)
    assert ks.beta_ppf(0.3, 1.0, 1.0) == pytest.approx(0.3, abs=1e-15)
    # Beta(2, 1) has CDF x^2
    assert ks.beta_ppf(0.25, 2.0, 1.0) == pytest.approx(0.5, abs=1e-15)
    for p in (1e-6, 0.01, 0.2, 0.77, 0.999):
        x = ks.beta_ppf(p, 0.6, 0.6)
        assert ks.beta_cdf(x, 0.6, 0.6) == pytest.approx(p, rel=1e-13)


def test_unknown_names_and_bad_steps_refuse(model):
    with pytest.raises(ValueError, match="schedule type"):
        a1111.sigmas_for(model, "Euler", "Cosine", 10)
    with pytest.raises(ValueError, match="sampler"):
        a1111.sigmas_for(model, "Euler z", "Karras", 10)
    with pytest.raises(ValueError, match="timesteps"):
        a1111.sigmas_for(model, "UniPC", "Karras", 10)
    with pytest.raises(ValueError, match="positive"):
        ks.karras(0, 0.1, 10.0)
