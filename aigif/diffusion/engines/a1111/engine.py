"""The A1111 engine: A1111 v1.10.x generation parameters -> pixels, orchestrated the way
its modules/processing.py does (txt2img, hires fix), over the pieces of this package:
rng.py (noise), prompt_parser.py + conditioning.py (text), schedules.py / timesteps.py and
aigif.diffusion.kdiffusion (sigmas, samplers, Brownian tree), hires.py, lora.py, decode.py.

The flow of one batch, in A1111's order:
1. LoRA tags are cut from the prompt (extra_networks.parse_prompts; the negative prompt
   keeps them as text) and merged into the weights (lora.py).
2. Conditioning over the steps: the negative prompt with get_learned_conditioning, the
   prompt with get_multicond_learned_conditioning (AND), both for the sampler's *total*
   model calls (steps x 2 for second-order samplers, A1111's step_multiplier).
3. Noise: one generator per image (seed + index), variation/seed resize, then the ENSD
   re-seeding (rng.ImageNoise); k-diffusion's randn_like draws from the same generators.
4. Sampling: sigmas from A1111's get_sigmas (schedules.sigmas_for), x = noise * sigma_max,
   the CFG denoiser below (schedules, AND weights, NGMS, pad conds), Brownian-tree noise
   seeded with the image seeds for the SDE samplers (torchsde's draws replaced by
   randn_local of the RNG source, as A1111 patches torchsde).
5. Hires fix (optional): latent interpolate or decode -> PIL resize -> encode; a fresh
   ImageNoise for the new shape (same seeds); img2img sampling over the tail of
   int(hires steps / denoising) sigmas with the hires prompt's conditioning.
6. Decode one image at a time and convert to 8 bits by truncation (decode.py); NaN in the
   first element of the latents or of a decoded image stops it, as A1111's default check.

Checked against A1111's own code: tests/goldens/a1111/engine.json (23 tiny-sd cases, all
bit-exact on CPU float32).

Anything outside this is refused, naming it (refiner, a hires checkpoint, network
upscalers, pickled weights, LyCORIS, img2img/inpainting inputs, SDXL, ...).
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ....errors import InvalidSyntax, ModelUnavailable, UnsupportedFeature
from ...kdiffusion import samplers as ksamplers
from ...kdiffusion.brownian import BrownianTree, BrownianTreeNoiseSampler
from ...kdiffusion.model import DiscreteDenoiser, LCMDenoiser, diffusers_unet_fn, ldm_alphas_cumprod
from . import conditioning as cd
from . import decode, hires, lora, rng, vae
from . import timesteps as ts
from .schedules import SCHEDULE_TYPES, ScheduleOptions, sampler_spec, sigmas_for
from .... import limits

ENGINE_NAME = "a1111"
SUPPORTED_VERSION = "v1.10.1"
# the engine computes in float32: a folder whose weights are stored in float16 is upcast on
# load (transformers would otherwise keep a text encoder in its config's dtype)
FLOAT32 = torch.float32
_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")  # A1111's extra_networks.re_extra_net


@dataclass
class A1111Params:
    """One A1111 generation, fields named after the infotext keys (in the comments)."""

    prompt: str = ""
    negative_prompt: str = ""                 # "Negative prompt"
    steps: int = 20                           # "Steps"
    sampler: str = "Euler a"                  # "Sampler"
    schedule_type: str = "Automatic"          # "Schedule type"
    cfg_scale: float = 7.0                    # "CFG scale"
    seed: int = 0                             # "Seed" (this image's)
    width: int = 512                          # "Size" WxH
    height: int = 512
    batch_size: int = 1                       # "Batch size"
    batch_index: int = 0                      # "Batch pos"
    subseed: int = 0                          # "Variation seed"
    subseed_strength: float = 0.0             # "Variation seed strength"
    seed_resize_from: tuple[int, int] = (0, 0)  # "Seed resize from" as (width, height); 0 = none
    ensd: int = 0                             # "ENSD" (eta noise seed delta)
    rng_source: str | None = None             # "RNG": None/absent = GPU
    clip_skip: int = 1                        # "Clip skip"
    emphasis: str = "Original"                # "Emphasis"
    eta: float | None = None                  # "Eta" (ancestral/SDE) / "Eta DDIM"; None = A1111's default
    s_churn: float = 0.0                      # "Sigma churn"
    s_tmin: float = 0.0                       # "Sigma tmin"
    s_tmax: float = 0.0                       # "Sigma tmax" (0 = inf)
    s_noise: float = 1.0                      # "Sigma noise"
    schedule_rho: float = 0.0                 # "Schedule rho"
    schedule_sigma_min: float = 0.0           # "Schedule min sigma"
    schedule_sigma_max: float = 0.0           # "Schedule max sigma"
    discard_penultimate_sigma: bool = False   # "Discard penultimate sigma"
    beta_alpha: float = 0.6                   # "Beta schedule alpha"
    beta_beta: float = 0.6                    # "Beta schedule beta"
    ngms: float = 0.0                         # "NGMS" (s_min_uncond)
    ngms_all_steps: bool = False              # "NGMS all steps"
    skip_early_cfg: float = 0.0               # "Skip Early CFG"
    pad_conds: bool = False                   # "Pad conds"
    pad_conds_v0: bool | None = None          # "Pad conds v0" (None: from Version)
    old_prompt_editing: bool | None = None    # "Old prompt editing timelines" (None: from Version)
    downcast_alphas_cumprod: bool | None = None  # "Downcast alphas_cumprod" (None: from Version)
    version: str | None = None                # "Version"
    # hires fix
    enable_hr: bool = False
    denoising_strength: float = 0.7           # "Denoising strength"
    hr_upscaler: str | None = None            # "Hires upscaler" (None: Latent)
    hr_scale: float = 2.0                     # "Hires upscale"
    hr_resize: tuple[int, int] = (0, 0)       # "Hires resize" WxH
    hr_steps: int = 0                         # "Hires steps" (0 = steps)
    hr_sampler: str | None = None             # "Hires sampler"
    hr_schedule_type: str | None = None       # "Hires schedule type"
    hr_prompt: str = ""                       # "Hires prompt" ("" = prompt)
    hr_negative_prompt: str = ""              # "Hires negative prompt"
    hr_cfg_scale: float | None = None         # Forge's "Hires CFG Scale" (not in A1111 v1.10)
    hr_checkpoint: str | None = None          # "Hires checkpoint": refused unless the same model
    # networks and models
    loras: list[tuple] = field(default_factory=list)   # [(name, weight[, hash])]; [] = from the prompt's tags
    lora_hashes: dict[str, str] = field(default_factory=dict)  # "Lora hashes" name -> hash
    vae: str | None = None                    # "VAE" name
    vae_hash: str | None = None               # "VAE hash"
    # DDIM/UniPC options
    uni_pc_variant: str = "bh1"
    uni_pc_skip_type: str = "time_uniform"
    uni_pc_order: int = 3
    uni_pc_lower_order_final: bool = True
    lms_float32_basis: bool = False           # NumPy >= 2 k-diffusion (see tests/goldens/kdiffusion)
    refiner: str | None = None                # "Refiner": refused


@dataclass
class BackCompat:
    old_prompt_editing: bool = False
    pad_conds_v0: bool = False
    downcast_alphas_cumprod: bool = False


def parse_version(text: str | None):
    """infotext_versions.parse_version: "v1.7.0-225-gabc" -> 1.7.0.post225; unparsable -> None."""
    if not text:
        return None
    from packaging import version

    m = re.match(r"([^-]+-[^-]+)-.*", text)
    if m:
        text = m.group(1)
    try:
        return version.parse(text)
    except Exception:
        return None


def backcompat(params: A1111Params) -> BackCompat:
    """infotext_versions.backcompat: old Versions switch on A1111's compatibility options;
    explicit infotext keys win."""
    from packaging import version

    flags = BackCompat()
    ver = parse_version(params.version)
    if ver is not None:
        flags.old_prompt_editing = ver < version.parse("1.6.0") and "[" in params.prompt
        flags.pad_conds_v0 = ver < version.parse("1.6.0") and params.sampler in ("DDIM", "PLMS")
        flags.downcast_alphas_cumprod = ver < version.parse("v1.7.0-225")
    for name in ("old_prompt_editing", "pad_conds_v0", "downcast_alphas_cumprod"):
        explicit = getattr(params, name)
        if explicit is not None:
            setattr(flags, name, bool(explicit))
    return flags


# -- the model --------------------------------------------------------------------------
@dataclass
class A1111Model:
    """An SD 1.x-style model as diffusers components, with A1111's LDM noise levels."""

    unet: torch.nn.Module
    vae: torch.nn.Module
    tokenizer: object
    text_encoder: torch.nn.Module
    beta_start: float = 0.00085
    beta_end: float = 0.012
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "epsilon"
    device: str = "cpu"
    name: str = ""

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", name: str = "") -> "A1111Model":
        """Loads a diffusers-layout folder (local files only)."""
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        path = Path(path)
        for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
            if not (path / part).is_dir():
                raise ModelUnavailable(f"{path} has no {part}/ folder: not a diffusers SD model", model=str(path))
        config = json.loads((path / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
        unet = UNet2DConditionModel.from_pretrained(str(path / "unet"), local_files_only=True, torch_dtype=FLOAT32).eval().to(device)
        if getattr(unet.config, "addition_embed_type", None) or unet.config.in_channels != 4:
            raise UnsupportedFeature(f"{path.name}: only SD 1.x/2.x-style txt2img UNets (SDXL, inpainting and "
                                     "edit models are not in this engine)")
        return cls(
            unet=unet,
            vae=AutoencoderKL.from_pretrained(str(path / "vae"), local_files_only=True, torch_dtype=FLOAT32).eval().to(device),
            tokenizer=CLIPTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True),
            text_encoder=CLIPTextModel.from_pretrained(str(path / "text_encoder"), local_files_only=True, dtype=FLOAT32).eval().to(device),
            beta_start=float(config.get("beta_start", 0.00085)), beta_end=float(config.get("beta_end", 0.012)),
            num_train_timesteps=int(config.get("num_train_timesteps", 1000)),
            beta_schedule=str(config.get("beta_schedule", "scaled_linear")),
            prediction_type=str(config.get("prediction_type", "epsilon")), device=device, name=name or path.name)

    def alphas_cumprod(self, downcast: bool = False) -> torch.Tensor:
        return ldm_alphas_cumprod(self.beta_start, self.beta_end, self.num_train_timesteps, self.beta_schedule,
                                  downcast_to_fp16=downcast).to(self.device)

    @property
    def latent_factor(self) -> int:
        return decode.latent_factor(self.vae)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)


@dataclass
class A1111Result:
    images: list[np.ndarray]                 # every image of the batch, (H, W, 3) uint8
    latents: torch.Tensor                    # the final latents of the batch (B, C, h, w)
    batch_index: int
    noise: rng.NoiseChoice
    infotext: dict[str, object] = field(default_factory=dict)  # values A1111 would add
    notes: list[str] = field(default_factory=list)

    @property
    def image(self) -> np.ndarray:
        return self.images[self.batch_index]


# -- the CFG denoiser ----------------------------------------------------------------------
class CFGDenoiser(ts.GuidedEps):
    """A1111's CFGDenoiser.forward for one txt2img model without masks or edit model:

    - at model call `step` the cond/uncond of the prompt-editing schedules are picked
      (reconstruct_multicond_batch / reconstruct_cond_batch);
    - x is repeated once per AND sub-prompt of its image, then the batch's x for the uncond;
    - NGMS: on odd calls (every call with "NGMS all steps") with sigma[0] < s_min_uncond the
      uncond is not computed and the first sub-prompt's output stands in, with scale 1;
      "Skip Early CFG" skips it while step / total_steps <= the setting;
    - pad conds (v0 or the empty-prompt padding), else different lengths run apart;
    - denoised = uncond + sum (cond_k - uncond) * (weight_k * scale).

    Serves the k-diffusion samplers (inner = D(x, sigma, cond)) and A1111's timestep samplers
    (inner = eps(x, t, cond): the "sigma" is the timestep, as in CFGDenoiserTimesteps).
    Subclasses GuidedEps so timesteps.ddim_cfgpp accepts it.
    """

    def __init__(self, inner, conds, unconds, scale: float, *, s_min_uncond: float = 0.0,
                 s_min_uncond_all: bool = False, skip_early_cond: float = 0.0, total_steps: int = 1,
                 pad: bool = False, pad_v0: bool = False, empty: torch.Tensor | None = None,
                 alphas_cumprod: torch.Tensor | None = None):
        self.inner = inner
        self.conds, self.unconds = conds, unconds
        self.scale = float(scale)
        self.scale_multiplier = 1.0
        self.keep_uncond = False
        self.last_uncond = None
        self.s_min_uncond = float(s_min_uncond)
        self.s_min_uncond_all = bool(s_min_uncond_all)
        self.skip_early_cond = float(skip_early_cond)
        self.total_steps = max(int(total_steps), 1)
        self.pad, self.pad_v0, self.empty = pad, pad_v0, empty
        self._alphas = alphas_cumprod
        self.step = 0
        self.infotext: dict[str, object] = {}

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self._alphas

    def for_cfgpp(self) -> "CFGDenoiser":
        self.scale_multiplier = ts.CFGPP_SCALE_MULTIPLIER
        self.keep_uncond = True
        return self

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        conds_list, tensor = cd.reconstruct_multicond_batch(self.conds, self.step)
        uncond = cd.reconstruct_cond_batch(self.unconds, self.step)
        batch_size = len(conds_list)
        repeats = [len(conds) for conds in conds_list]
        x_in = torch.cat([torch.stack([x[i] for _ in range(n)]) for i, n in enumerate(repeats)] + [x])
        sigma_in = torch.cat([torch.stack([sigma[i] for _ in range(n)]) for i, n in enumerate(repeats)] + [sigma])

        skip_uncond = False
        if self.skip_early_cond != 0. and self.step / self.total_steps <= self.skip_early_cond:
            skip_uncond = True
            self.infotext["Skip Early CFG"] = self.skip_early_cond
        elif (self.step % 2 or self.s_min_uncond_all) and self.s_min_uncond > 0 and sigma[0] < self.s_min_uncond:
            skip_uncond = True
            self.infotext["NGMS"] = self.s_min_uncond
            if self.s_min_uncond_all:
                self.infotext["NGMS all steps"] = True
        if skip_uncond:
            x_in, sigma_in = x_in[:-batch_size], sigma_in[:-batch_size]

        tensor, uncond, padded = cd.match_cond_uncond(tensor, uncond, self.empty, pad=self.pad, pad_v0=self.pad_v0)
        if padded:
            self.infotext["Pad conds v0" if self.pad_v0 else "Pad conds"] = True

        if tensor.shape[1] == uncond.shape[1] or skip_uncond:
            cond_in = tensor if skip_uncond else torch.cat([tensor, uncond])
            x_out = self.inner(x_in, sigma_in, cond_in)
        else:
            x_out = torch.zeros_like(x_in)
            step = batch_size * 2
            for a in range(0, tensor.shape[0], step):
                b = min(a + step, tensor.shape[0])
                x_out[a:b] = self.inner(x_in[a:b], sigma_in[a:b], tensor[a:b])
            x_out[-uncond.shape[0]:] = self.inner(x_in[-uncond.shape[0]:], sigma_in[-uncond.shape[0]:], uncond)

        if skip_uncond:
            first = [conds[0][0] for conds in conds_list]
            x_out = torch.cat([x_out, torch.cat([x_out[i:i + 1] for i in first])])
        if self.keep_uncond:
            self.last_uncond = torch.clone(x_out[-uncond.shape[0]:])

        scale = 1.0 if skip_uncond else self.scale * self.scale_multiplier
        denoised_uncond = x_out[-uncond.shape[0]:]
        denoised = torch.clone(denoised_uncond)
        for i, conds in enumerate(conds_list):
            for cond_index, weight in conds:
                denoised[i] += (x_out[cond_index] - denoised_uncond[i]) * (weight * scale)
        self.step += 1
        return denoised


class _SourcedTree(BrownianTree):
    """torchsde's tree with A1111's replacement of its normal draws: randn_local(seed, size)
    of the RNG source (sd_samplers_common.replace_torchsde_browinan)."""

    choice: rng.NoiseChoice

    def _randn(self, seed: int) -> torch.Tensor:
        generator = rng.create_generator(seed, self.choice)
        values = rng.draw(generator, self.size, str(self.device))
        return values.to(device=self.device, dtype=self.dtype)


def brownian_noise(x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int],
                   choice: rng.NoiseChoice) -> BrownianTreeNoiseSampler:
    """create_noise_sampler: one tree per image seed over [min positive sigma, max sigma]."""
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    sampler = BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=list(seeds))
    if choice.used != "CPU" or choice.device != "cpu":
        t0, t1 = (sigma_min, sigma_max) if sigma_min < sigma_max else (sigma_max, sigma_min)
        tree_cls = type("SourcedTree", (_SourcedTree,), {"choice": choice})
        sampler.trees = [tree_cls(t0, t1, x.shape[1:], x.dtype, x.device, s) for s in seeds]
    return sampler


# -- conditioning -------------------------------------------------------------------------
def split_extra_networks(prompt: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """extra_networks.parse_prompt: the prompt without `<kind:args>` tags, and the tags."""
    found: list[tuple[str, list[str]]] = []

    def cut(m):
        found.append((m.group(1), m.group(2).split(":")))
        return ""

    return re.sub(_EXTRA_NETWORK, cut, prompt), found


def loras_from_tags(tags) -> list[tuple[str, float]]:
    out = []
    for kind, args in tags:
        if kind != "lora":
            raise UnsupportedFeature(f"extra network <{kind}:...> is not supported by this engine (only <lora:...>)")
        if len(args) > 2:
            raise UnsupportedFeature(f"<lora:{':'.join(args)}>: separate text-encoder/UNet weights or dyn dim are "
                                     "not supported")
        try:
            weight = float(args[1]) if len(args) > 1 else 1.0
        except ValueError:
            raise InvalidSyntax(f"<lora:{':'.join(args)}>: weight {args[1]!r} is not a number") from None
        out.append((args[0], weight))
    return out


def _total_steps(sampler: str, steps: int) -> int:
    return steps * 2 if sampler_spec(sampler).second_order else steps


# -- the engine ----------------------------------------------------------------------------
class A1111Engine:
    """Runs A1111Params on one A1111Model.  Folders: LoRA (.safetensors), textual-inversion
    embeddings (.safetensors), VAE overrides (diffusers folders or .safetensors)."""

    def __init__(self, model: A1111Model, *, lora_dir=None, embeddings_dir=None, vae_dir=None):
        self.model = model
        self.loras = lora.LoraLibrary(lora_dir)
        self.embeddings_dir = embeddings_dir
        self.vae_dir = vae_dir
        self._vae_cache: dict[str, torch.nn.Module] = {}

    # -- checks --------------------------------------------------------------------
    def _check(self, p: A1111Params) -> None:
        if p.refiner not in (None, "", "None"):
            raise UnsupportedFeature(f"refiner {p.refiner!r}: switching checkpoints mid-sampling is not supported")
        if p.hr_checkpoint not in (None, "", "Use same checkpoint") and p.hr_checkpoint != self.model.name:
            raise UnsupportedFeature(f"hires checkpoint {p.hr_checkpoint!r} differs from the model")
        for label, value, low, high in (("steps", p.steps, 1, limits.A1111_MAX_STEPS), ("batch size", p.batch_size, 1, limits.A1111_MAX_BATCH),
                                        ("hires steps", p.hr_steps, 0, limits.A1111_MAX_STEPS)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidSyntax(f"{label} must be an integer {low}..{high}, not {value!r}")
        if not 0 <= p.batch_index < p.batch_size:
            raise InvalidSyntax(f"batch position {p.batch_index} is outside a batch of {p.batch_size}")
        factor = self.model.latent_factor
        for label, value in (("width", p.width), ("height", p.height)):
            if not isinstance(value, int) or not factor <= value <= limits.A1111_MAX_SIDE:
                raise InvalidSyntax(f"{label} {value!r} is outside {factor}..{limits.A1111_MAX_SIDE}")
        if p.seed < 0 or p.subseed < 0:
            raise InvalidSyntax("seed -1 (random) cannot be regenerated: the infotext's seed is needed")
        for name in (p.sampler, p.hr_sampler or p.sampler):
            try:
                sampler_spec(name)
            except ValueError:
                raise UnsupportedFeature(f"A1111 sampler {name!r} is not supported") from None
        for label in (p.schedule_type, p.hr_schedule_type or p.schedule_type):
            if (label or "Automatic") not in SCHEDULE_TYPES:
                raise UnsupportedFeature(f"A1111 schedule type {label!r} is not supported")
        if p.enable_hr:
            hires.check_upscaler(p.hr_upscaler)
            if not 0 < p.denoising_strength <= 1:
                raise InvalidSyntax(f"hires denoising strength {p.denoising_strength} is outside (0, 1]")

    # -- pieces ----------------------------------------------------------------------
    def _text(self, p: A1111Params) -> cd.TextConditioner:
        options = cd.ConditioningOptions(emphasis=p.emphasis, clip_skip=p.clip_skip)
        database = None
        if self.embeddings_dir:
            encoder = cd.ClipTextEncoder(self.model.tokenizer, self.model.text_encoder)
            database = cd.EmbeddingDatabase(encoder._tokenize, encoder.width)
            database.load_dir(self.embeddings_dir)
            return cd.TextConditioner(encoder, options, database)
        return cd.TextConditioner(cd.ClipTextEncoder(self.model.tokenizer, self.model.text_encoder), options)

    def _inner(self, sampler: str, alphas: torch.Tensor):
        unet_fn = diffusers_unet_fn(self.model.unet)
        family = sampler_spec(sampler).family
        if family == "timesteps":
            return ts.TimestepModel(unet_fn, alphas, self.model.prediction_type)
        if family == "lcm":
            return LCMDenoiser(unet_fn, alphas)
        return DiscreteDenoiser(unet_fn, alphas, self.model.prediction_type)

    def _schedule_options(self, p: A1111Params) -> ScheduleOptions:
        return ScheduleOptions(rho=p.schedule_rho, sigma_min=p.schedule_sigma_min, sigma_max=p.schedule_sigma_max,
                               always_discard_penultimate=p.discard_penultimate_sigma,
                               beta_alpha=p.beta_alpha, beta_beta=p.beta_beta)

    def _eta(self, p: A1111Params, family: str) -> float:
        if p.eta is not None:
            return float(p.eta)
        return 0.0 if family == "timesteps" else 1.0  # opts.eta_ddim, opts.eta_ancestral

    def _run_sampler(self, p: A1111Params, sampler: str, schedule_type: str, steps: int, denoiser: CFGDenoiser,
                     noise: rng.ImageNoise, seeds: Sequence[int], *, init: torch.Tensor | None = None,
                     first_noise: torch.Tensor, denoising: float | None = None) -> torch.Tensor:
        """KDiffusionSampler.sample / sample_img2img and CompVisSampler.sample / sample_img2img."""
        spec = sampler_spec(sampler)
        inner = denoiser.inner
        img2img = init is not None
        if img2img:
            requested = steps
            steps = int(requested / min(denoising, 0.999)) if denoising > 0 else 0
            t_enc = requested - 1
        if spec.family == "timesteps":
            timesteps = ts.timesteps_for(steps, p.discard_penultimate_sigma, device=first_noise.device)
            alphas = inner.alphas_cumprod
            if img2img:
                sqrt_a = torch.sqrt(alphas[timesteps[t_enc]])
                sqrt_1ma = torch.sqrt(1 - alphas[timesteps[t_enc]])
                x = init * sqrt_a + first_noise * sqrt_1ma
                timesteps = timesteps[:t_enc]
            else:
                x = first_noise
            func = ts.SAMPLERS[spec.algorithm]
            kwargs = {}
            if spec.algorithm in ("ddim", "ddim_cfgpp"):
                kwargs["eta"] = self._eta(p, "timesteps")
                kwargs["noise_sampler"] = lambda _t, _t_prev: noise.randn_like(x)
            elif spec.algorithm == "unipc":
                kwargs.update(variant=p.uni_pc_variant, skip_type=p.uni_pc_skip_type, order=p.uni_pc_order,
                              lower_order_final=p.uni_pc_lower_order_final, img2img=img2img)
            return func(denoiser, x, timesteps, **kwargs)

        sigmas = sigmas_for(inner, sampler, schedule_type, steps, self._schedule_options(p))
        if img2img:
            sched = sigmas[steps - t_enc - 1:]
            x = init + first_noise * sched[0]
            base = init
        else:
            sched = sigmas
            x = first_noise * sigmas[0]
            base = x
        func = getattr(ksamplers, spec.algorithm)
        parameters = inspect.signature(func).parameters
        kwargs: dict[str, object] = {}
        if "eta" in parameters:
            kwargs["eta"] = self._eta(p, "kdiffusion")
        if spec.algorithm in ("sample_euler", "sample_heun", "sample_dpm_2"):
            kwargs.update(s_churn=p.s_churn, s_tmin=p.s_tmin, s_tmax=p.s_tmax or float("inf"), s_noise=p.s_noise)
        elif "s_noise" in parameters:
            kwargs["s_noise"] = p.s_noise
        if spec.brownian:
            kwargs["noise_sampler"] = brownian_noise(base, sigmas, seeds, noise.choice)
        else:
            kwargs["noise_sampler"] = lambda _s, _s_next: noise.randn_like(x)
        if spec.solver_type:
            kwargs["solver_type"] = spec.solver_type
        if spec.algorithm == "sample_lms":
            kwargs["float32_basis"] = p.lms_float32_basis
        return func(denoiser, x, sched, **kwargs)

    def _denoiser(self, p, sampler, alphas, conds, unconds, total_steps, cfg, flags, text) -> CFGDenoiser:
        empty = None
        if p.pad_conds:
            empty = text([""])
        return CFGDenoiser(self._inner(sampler, alphas), conds, unconds, cfg, s_min_uncond=p.ngms,
                           s_min_uncond_all=p.ngms_all_steps, skip_early_cond=p.skip_early_cfg,
                           total_steps=total_steps, pad=p.pad_conds, pad_v0=flags.pad_conds_v0, empty=empty,
                           alphas_cumprod=alphas)

    def _vae(self, p: A1111Params):
        if not p.vae and not p.vae_hash:
            return self.model.vae
        key = f"{p.vae}|{p.vae_hash}"
        if key not in self._vae_cache:
            self._vae_cache[key] = vae.load_vae(self.vae_dir, p.vae, p.vae_hash, like=self.model.vae)
        return self._vae_cache[key]

    # -- the flow --------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, p: A1111Params) -> A1111Result:
        self._check(p)
        flags = backcompat(p)
        model = self.model
        factor = model.latent_factor
        device = model.device
        infotext: dict[str, object] = {}
        alphas = model.alphas_cumprod()
        if flags.downcast_alphas_cumprod:
            # A1111 keeps them as float16 (apply_alpha_schedule_override), so k-diffusion's sigmas
            # and log-sigmas and DDIM's schedule are computed in float16 too, not just rounded
            alphas = alphas.half()
            infotext["Downcast alphas_cumprod"] = True
        notes: list[str] = []
        vae = self._vae(p)

        # the batch this image was made in (processing.process_images_inner)
        step_seed = 1 if p.subseed_strength == 0 else 0
        seeds = [p.seed - step_seed * p.batch_index + step_seed * i for i in range(p.batch_size)]
        subseeds = [p.subseed - p.batch_index + i for i in range(p.batch_size)]
        if min(seeds) < 0 or (p.subseed_strength != 0 and min(subseeds) < 0):
            raise InvalidSyntax("seed minus batch position is negative: not an A1111 batch")

        prompt, tags = split_extra_networks(p.prompt)
        lora_list = list(p.loras) or loras_from_tags(tags)
        uses = lora.resolve_all(self.loras, lora_list, p.lora_hashes)
        hr_prompt_raw = p.hr_prompt or p.prompt
        hr_prompt, hr_tags = split_extra_networks(hr_prompt_raw)
        hr_uses = uses if hr_prompt_raw == p.prompt else lora.resolve_all(self.loras, loras_from_tags(hr_tags),
                                                                           p.lora_hashes)
        if uses:
            infotext["Lora hashes"] = lora.hashes_infotext(uses)

        # seed resize from is in pixels of an 8x VAE in A1111's rng (h // 8): rescale for other VAEs
        resize_w, resize_h = p.seed_resize_from
        to_rng = 8 // factor if 8 % factor == 0 else None
        if (resize_w or resize_h) and to_rng is None:
            raise UnsupportedFeature(f"seed resize with a VAE factor of {factor}")
        resize = (resize_h * (to_rng or 1), resize_w * (to_rng or 1))

        shape = (model.latent_channels, p.height // factor, p.width // factor)
        noise = rng.ImageNoise(shape, seeds, subseeds=subseeds, subseed_strength=p.subseed_strength,
                               seed_resize_from=resize, eta_noise_seed_delta=p.ensd, source=p.rng_source,
                               device=device)
        if noise.choice.note:
            notes.append(noise.choice.note)

        total = _total_steps(p.sampler, p.steps)
        with lora.applied(model.unet, model.text_encoder, uses):
            text = self._text(p)
            unconds = cd.get_learned_conditioning(text, [p.negative_prompt] * p.batch_size, total,
                                                  use_old_scheduling=flags.old_prompt_editing)
            conds = cd.get_multicond_learned_conditioning(text, [prompt] * p.batch_size, total,
                                                          use_old_scheduling=flags.old_prompt_editing)
            denoiser = self._denoiser(p, p.sampler, alphas, conds, unconds, total, p.cfg_scale, flags, text)
            first = noise.next()
            samples = self._run_sampler(p, p.sampler, p.schedule_type, p.steps, denoiser, noise, seeds,
                                        first_noise=first)
            infotext.update(denoiser.infotext)
            infotext.update(text.infotext)

            if p.enable_hr:
                target = hires.target_resolution(p.width, p.height, p.hr_scale, p.hr_resize[0], p.hr_resize[1], factor)
                if hires.is_latent(p.hr_upscaler):
                    samples = hires.upscale_latents(samples, target, p.hr_upscaler, factor)
                else:
                    first_pass = decode.to_uint8(decode.decode_latents(vae, samples))
                    pixels = hires.pixels_for_encode(first_pass, target, p.hr_upscaler)
                    samples = decode.encode_images(vae, pixels).to(device)
                    notes.append(decode.ENCODE_NOTE)
                samples = hires.truncate(samples, target)

        if p.enable_hr:
            hr_sampler = p.hr_sampler or p.sampler
            hr_steps = p.hr_steps or p.steps
            hr_noise = rng.ImageNoise(tuple(samples.shape[1:]), seeds, subseeds=subseeds,
                                      subseed_strength=p.subseed_strength, seed_resize_from=resize,
                                      eta_noise_seed_delta=p.ensd, source=p.rng_source, device=device)
            hr_first = hr_noise.next()
            hr_total = _total_steps(hr_sampler, hr_steps)
            with lora.applied(model.unet, model.text_encoder, hr_uses):
                text = self._text(p)
                hr_unconds = cd.get_learned_conditioning(
                    text, [p.hr_negative_prompt or p.negative_prompt] * p.batch_size, total, hires_steps=hr_total,
                    use_old_scheduling=flags.old_prompt_editing)
                hr_conds = cd.get_multicond_learned_conditioning(
                    text, [hr_prompt] * p.batch_size, total, hires_steps=hr_total,
                    use_old_scheduling=flags.old_prompt_editing)
                cfg = p.cfg_scale if p.hr_cfg_scale is None else p.hr_cfg_scale
                hr_denoiser = self._denoiser(p, hr_sampler, alphas, hr_conds, hr_unconds, hr_total, cfg, flags, text)
                samples = self._run_sampler(p, hr_sampler, p.hr_schedule_type or p.schedule_type, hr_steps,
                                            hr_denoiser, hr_noise, seeds, init=samples, first_noise=hr_first,
                                            denoising=p.denoising_strength)
                infotext.update(hr_denoiser.infotext)

        images = decode.to_uint8(decode.decode_latents(vae, samples))
        return A1111Result(images, samples, p.batch_index, noise.choice, infotext, notes)


def generate(model: A1111Model, params: A1111Params, **folders) -> A1111Result:
    return A1111Engine(model, **folders).generate(params)
