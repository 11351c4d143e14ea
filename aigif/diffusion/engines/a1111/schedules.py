"""A1111 v1.10's sampler table and how it turns (sampler, schedule type, steps) into sigmas.

The table is data: for each sampler name A1111 shows, the k-diffusion algorithm it runs
and the options that change the sigmas or the noise:
- `scheduler`: the schedule "Automatic" resolves to for this sampler (None: Uniform);
- `discard_penultimate`: compute steps+1 sigmas and drop the next-to-last one;
- `second_order`: two model calls per step (A1111 halves the steps it shows in the UI);
- `uses_ensd`: ancestral noise, so "Eta noise seed delta" re-seeds the per-step noise;
- `brownian`: SDE samplers get a Brownian-tree noise sampler seeded from the image seeds;
- `solver_type`: the DPM++ 2M SDE variant;
- `eta_noise`: a timestep sampler that draws per-step noise scaled by "Eta DDIM" (the engine's
  per-image generators supply it; ENSD re-seeds them as for any sampler, although A1111's
  infotext records ENSD only for samplers flagged `uses_ensd`).
`family` says which sampling machinery runs it: "kdiffusion" (sigma space, this table's
schedules apply), "lcm" (k-diffusion-style over LCM's 50 original timesteps) or
"timesteps" (A1111's own DDIM/DDIM CFG++/PLMS/UniPC over integer timesteps, the functions in
aigif.diffusion.engines.a1111.timesteps.SAMPLERS; schedule types do not apply).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...kdiffusion import schedules as ks
from ...kdiffusion.model import DiscreteSchedule


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    algorithm: str          # a function name in kdiffusion.samplers (or a1111.timesteps.SAMPLERS)
    family: str = "kdiffusion"
    scheduler: str | None = None
    discard_penultimate: bool = False
    second_order: bool = False
    uses_ensd: bool = False
    brownian: bool = False
    solver_type: str | None = None
    eta_noise: bool = False


SAMPLERS: dict[str, SamplerSpec] = {s.name: s for s in (
    SamplerSpec("DPM++ 2M", "sample_dpmpp_2m", scheduler="karras"),
    SamplerSpec("DPM++ SDE", "sample_dpmpp_sde", scheduler="karras", second_order=True, brownian=True),
    SamplerSpec("DPM++ 2M SDE", "sample_dpmpp_2m_sde", scheduler="exponential", brownian=True),
    SamplerSpec("DPM++ 2M SDE Heun", "sample_dpmpp_2m_sde", scheduler="exponential", brownian=True,
                solver_type="heun"),
    SamplerSpec("DPM++ 2S a", "sample_dpmpp_2s_ancestral", scheduler="karras", uses_ensd=True,
                second_order=True),
    SamplerSpec("DPM++ 3M SDE", "sample_dpmpp_3m_sde", scheduler="exponential",
                discard_penultimate=True, brownian=True),
    SamplerSpec("Euler a", "sample_euler_ancestral", uses_ensd=True),
    SamplerSpec("Euler", "sample_euler"),
    SamplerSpec("LMS", "sample_lms"),
    SamplerSpec("Heun", "sample_heun", second_order=True),
    SamplerSpec("DPM2", "sample_dpm_2", scheduler="karras", discard_penultimate=True, second_order=True),
    SamplerSpec("DPM2 a", "sample_dpm_2_ancestral", scheduler="karras", discard_penultimate=True,
                uses_ensd=True, second_order=True),
    SamplerSpec("LCM", "sample_lcm", family="lcm"),
    SamplerSpec("DDIM", "ddim", family="timesteps", eta_noise=True),
    SamplerSpec("DDIM CFG++", "ddim_cfgpp", family="timesteps", eta_noise=True),
    SamplerSpec("PLMS", "plms", family="timesteps"),
    SamplerSpec("UniPC", "unipc", family="timesteps"),
)}

# A1111's names for the schedule types (infotext "Schedule type: ...") -> internal name.
SCHEDULE_TYPES: dict[str, str] = {
    "Automatic": "automatic", "Uniform": "uniform", "Karras": "karras",
    "Exponential": "exponential", "Polyexponential": "polyexponential",
    "SGM Uniform": "sgm_uniform", "SGMUniform": "sgm_uniform", "KL Optimal": "kl_optimal",
    "Align Your Steps": "align_your_steps", "Simple": "simple", "Normal": "normal",
    "DDIM": "ddim", "Beta": "beta",
}
# Only these two take rho, with these defaults; a rho override equal to the default is none.
DEFAULT_RHO = {"karras": 7.0, "polyexponential": 1.0}


@dataclass(frozen=True)
class ScheduleOptions:
    """A1111's settings that change sigmas (infotext keys in the comments)."""
    rho: float = 0.0                # "Schedule rho"; 0 = the schedule's default
    sigma_min: float = 0.0          # "Schedule min sigma"; 0 = the model's
    sigma_max: float = 0.0          # "Schedule max sigma"; 0 = the model's
    always_discard_penultimate: bool = False   # "Discard penultimate sigma"
    old_karras_sigmas: bool = False  # use_old_karras_scheduler_sigmas: (0.1, 10) for every schedule
    beta_alpha: float = 0.6         # "Beta schedule alpha"
    beta_beta: float = 0.6          # "Beta schedule beta"
    sdxl: bool = False              # which Align Your Steps table


def schedule_name(label: str) -> str:
    try:
        return SCHEDULE_TYPES[label]
    except KeyError:
        raise ValueError(f"unknown A1111 schedule type {label!r}") from None


def sampler_spec(name: str) -> SamplerSpec:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown A1111 sampler {name!r}") from None


def sigmas_for(model: DiscreteSchedule, sampler: str, schedule_type: str, steps: int,
               options: ScheduleOptions = ScheduleOptions()) -> torch.Tensor:
    """The sigmas A1111 v1.10's KDiffusionSampler.get_sigmas gives a k-diffusion sampler."""
    spec = sampler_spec(sampler)
    if spec.family == "timesteps":
        raise ValueError(f"{sampler} runs over A1111's integer timesteps, not a sigma schedule")
    discard = spec.discard_penultimate or options.always_discard_penultimate
    n = steps + 1 if discard else steps

    name = schedule_name(schedule_type or "Automatic")
    if name == "automatic":
        name = spec.scheduler or "uniform"

    model_min, model_max = float(model.sigmas[0]), float(model.sigmas[-1])
    sigma_min, sigma_max = (0.1, 10.0) if options.old_karras_sigmas else (model_min, model_max)
    # Uniform (also what Automatic gives a sampler without a preference) ignores the
    # min/max/rho overrides; the other schedules honour them.
    if options.sigma_min != 0 and options.sigma_min != model_min:
        sigma_min = options.sigma_min
    if options.sigma_max != 0 and options.sigma_max != model_max:
        sigma_max = options.sigma_max
    rho = DEFAULT_RHO.get(name)
    if rho is not None and options.rho != 0 and options.rho != rho:
        rho = options.rho
    sigmas = _named(model, name, n, sigma_min, sigma_max, rho, options)

    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas


def _named(model: DiscreteSchedule, name: str, n: int, sigma_min: float, sigma_max: float,
           rho: float | None, options: ScheduleOptions) -> torch.Tensor:
    if name == "uniform":
        return ks.uniform(model, n)
    if name == "karras":
        return ks.karras(n, sigma_min, sigma_max, rho=rho)
    if name == "exponential":
        return ks.exponential(n, sigma_min, sigma_max)
    if name == "polyexponential":
        return ks.polyexponential(n, sigma_min, sigma_max, rho=rho)
    if name == "sgm_uniform":
        return ks.sgm_uniform(model, n, sigma_min, sigma_max)
    if name == "kl_optimal":
        return ks.kl_optimal(n, sigma_min, sigma_max)
    if name == "align_your_steps":
        return ks.align_your_steps(n, sdxl=options.sdxl)
    if name == "simple":
        return ks.simple(model, n)
    if name == "normal":
        return ks.normal(model, n, sigma_min, sigma_max)
    if name == "ddim":
        return ks.ddim(model, n)
    if name == "beta":
        return ks.beta(n, sigma_min, sigma_max, options.beta_alpha, options.beta_beta)
    raise ValueError(f"unknown schedule {name!r}")
