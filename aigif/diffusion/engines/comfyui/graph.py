"""An interpreter for ComfyUI API-format graphs ({"id": {"class_type", "inputs"}}) that honours
a fixed set of node types with ComfyUI's own arithmetic (the numerical core of this package:
noise, schedulers, samplers, text, LoRA), on SD 1.x-style diffusers components that a
caller-supplied loader resolves by name.

Honoured (NODE_TYPES): CheckpointLoaderSimple, CLIPSetLastLayer, CLIPTextEncode, LoraLoader,
LoraLoaderModelOnly, VAELoader, VAEDecode, EmptyLatentImage, KSampler, KSamplerAdvanced,
LatentUpscale, LatentUpscaleBy, ConditioningCombine, ConditioningConcat, ConditioningSetArea,
ConditioningSetAreaPercentage, ConditioningSetAreaStrength (areas.py), ModelSamplingDiscrete
(model_sampling.py: eps / v_prediction / lcm / x0 / img_to_img, zsnr), BasicScheduler,
KSamplerSelect, RandomNoise, DisableNoise, CFGGuider, BasicGuider, SamplerCustom,
SamplerCustomAdvanced, SaveImage, PreviewImage.  A graph with any other node type is
refused before any work, naming every type it cannot honour; ModelSamplingFlux / SD3 /
AuraFlow with the model family they need (families.py).  Also refused: the "bislerp"
latent upscale, `embedding:` textual inversions, links to a missing node or output, cycles,
graphs over limits.COMFYUI_MAX_NODES nodes or limits.COMFYUI_MAX_DEPTH deep, latents over limits.COMFYUI_MAX_LATENT_ELEMENTS.

ComfyUI's sampling around the core, as comfy.samplers computes it:
- conditioning is a list of (cross-attention tensor, pooled, strength, area) entries; each
  entry is one UNet input (on x cropped to its area, areas.py).  _calc_cond_batch batches
  every entry whose crop has the first one left's shape and whose tensor can be
  concatenated with its tensor (equal length, or lengths whose least common
  multiple is at most 4x the shorter: the shorter ones are repeated to that length), in
  reverse list order (positive entries first in the list, then negative: the UNet sees
  [negative..., positive...]); per side the outputs are summed times the strength (feathered
  at an area's inner edges) and divided by (1e-37 + the strengths).  cfg 1 (math.isclose)
  leaves the negative out, after the area entries' twins are made.
- KSampler / KSamplerAdvanced are common_ksampler; SamplerCustom(Advanced) take the
  sigmas as given (BasicScheduler: int(steps / denoise) levels cut to the last steps + 1
  when denoise < 1, none at denoise 0), the noise of RandomNoise (prepare_noise) or zeros,
  and seed the sampler's own noise with the noise seed (0 for DisableNoise).
- ComfyUI assumes a VAE that downsamples 8x in EmptyLatentImage, LatentUpscale and
  ConditioningSetArea; this engine uses the checkpoint VAE's factor (8 for every real SD 1.x model; 2 for the test
  model tiny-sd, where ComfyUI's 8 would give a latent the model was not made for).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ....errors import InvalidSyntax, LimitExceeded, ModelUnavailable, UnsupportedFeature
from .areas import PERCENTAGE, accumulate, area_and_mult, prepare_sides
from .families import unsupported_message
from .guidance import ComfyModel
from .ksampler import SD15_SCALE_FACTOR, to_pixels
from .lora import LoraPatch, patched_weights, unet_targets
from .model_sampling import SAMPLINGS, ModelSamplingDiscrete, comfy_beta_schedule
from .noise import SEED_MAX, prepare_noise
from .samplers import SAMPLERS
from .sdxl import SDXL_SCALE_FACTOR, SdxlClip, adm, lora_keys_of, sdxl_unet_fn, size_conditioning

SDXL_FAMILIES = ("sdxl", "sdxl-refiner")
from .schedulers import SCHEDULER_NAMES, calculate_sigmas, ksampler_sigmas, step_window
from .text import ComfyClip, check_last_layer
from .... import limits

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
OUTPUT_NODES = ("SaveImage", "PreviewImage")


# -- the values on the graph's edges -----------------------------------------------------
@dataclass(frozen=True)
class ModelValue:
    checkpoint: "LoadedCheckpoint"
    patches: tuple[LoraPatch, ...] = ()
    sampling: ModelSamplingDiscrete | None = None  # ModelSamplingDiscrete's object patch, else the checkpoint's

    @property
    def model_sampling(self) -> ModelSamplingDiscrete:
        return self.sampling if self.sampling is not None else self.checkpoint.model_sampling


@dataclass(frozen=True)
class ClipValue:
    checkpoint: "LoadedCheckpoint"
    layer_idx: int | None = None
    patches: tuple[LoraPatch, ...] = ()


@dataclass(frozen=True)
class VaeValue:
    vae: Any
    name: str


@dataclass(frozen=True)
class CondEntry:
    cross_attn: torch.Tensor
    pooled: torch.Tensor | None
    strength: float = 1.0
    # SDXL: the size numbers CLIPTextEncodeSDXL records ((name, value) pairs), None = defaults
    sizes: tuple[tuple[str, int], ...] | None = None
    y: torch.Tensor | None = None  # the model's extra vector (SDXL's adm), set when sampling starts
    # ConditioningSetArea*: (height, width, y, x) in latent cells or ("percentage", h, w, y, x); areas.py
    area: tuple | None = None


@dataclass(frozen=True)
class LatentValue:
    samples: torch.Tensor


@dataclass(frozen=True)
class NoiseValue:
    seed: int | None  # None: DisableNoise


@dataclass(frozen=True)
class GuiderValue:
    model: ModelValue
    positive: tuple[CondEntry, ...]
    negative: tuple[CondEntry, ...] | None
    cfg: float


@dataclass(frozen=True)
class SamplerValue:
    name: str


@dataclass(frozen=True)
class ImageValue:
    pixels: torch.Tensor  # (B, H, W, C) in [0, 1], ComfyUI's IMAGE


@dataclass
class LoadedCheckpoint:
    """One loaded checkpoint: diffusers components plus ComfyUI's noise levels for it."""
    name: str
    model: Any  # unet, vae, tokenizer, text_encoder, beta_start/end, num_train_timesteps, beta_schedule, prediction_type
    model_sampling: ModelSamplingDiscrete
    latent_factor: int
    clips: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return getattr(self.model, "family", "sd1")

    @property
    def scale_factor(self) -> float:
        """ComfyUI's latent format for the family (process_latent_in / out)."""
        return SDXL_SCALE_FACTOR if self.family in SDXL_FAMILIES else SD15_SCALE_FACTOR

    def clip_lora_keys(self) -> list[str]:
        """The kohya key stems of the text encoder(s) (so a UNet patch leaves them to the CLIP)."""
        if self.family in SDXL_FAMILIES:
            return sorted(lora_keys_of(self.model))
        inner = getattr(self.model.text_encoder, "text_model", self.model.text_encoder)
        return [key for key in ComfyClip.lora_targets_of(name for name, _ in inner.named_parameters())]


@dataclass
class GraphResources:
    """How names in the graph become models (no network, no pickles: the caller's choice).

    checkpoint(name) -> an SD 1.x model as diffusers components (e.g. the A1111 engine's
    A1111Model); vae(name) -> a diffusers AutoencoderKL; lora(name) -> a .safetensors path."""
    checkpoint: Callable[[str], Any]
    vae: Callable[[str], Any] | None = None
    lora: Callable[[str], str | os.PathLike] | None = None
    text_encoder_dtype: torch.dtype = torch.float16  # ComfyUI's default; float32 = --fp32-text-enc


@dataclass
class GraphResult:
    images: dict[str, np.ndarray]            # output node id -> (B, H, W, 3) uint8, as SaveImage writes
    values: dict[str, tuple]                 # node id -> its outputs (LatentValue, ImageValue, ...)

    def latent(self, node_id: str, index: int = 0) -> torch.Tensor:
        value = self.values[node_id][index]
        if not isinstance(value, LatentValue):
            raise InvalidSyntax(f"node {node_id} output {index} is not a latent")
        return value.samples


# -- input checking ----------------------------------------------------------------------
def _node_error(node_id: str, class_type: str, message: str) -> InvalidSyntax:
    return InvalidSyntax(f"ComfyUI node {node_id} ({class_type}): {message}", node=node_id, class_type=class_type)


class _Inputs:
    def __init__(self, node_id: str, class_type: str, inputs: dict, engine: "GraphEngine"):
        self.node_id, self.class_type, self.inputs, self.engine = node_id, class_type, inputs, engine

    def _raw(self, name: str):
        if name not in self.inputs:
            raise _node_error(self.node_id, self.class_type, f"input {name!r} is missing")
        return self.inputs[name]

    def link(self, name: str, kind: type):
        value = self._raw(name)
        if not _is_link(value):
            raise _node_error(self.node_id, self.class_type, f"input {name!r} must be a link to a node's output")
        out = self.engine.output_of(value)
        if not isinstance(out, kind):
            raise _node_error(self.node_id, self.class_type,
                              f"input {name!r} links to a {type(out).__name__}, not a {kind.__name__}")
        return out

    def conditioning(self, name: str) -> tuple[CondEntry, ...]:
        value = self.link(name, tuple)
        if not all(isinstance(e, CondEntry) for e in value):
            raise _node_error(self.node_id, self.class_type, f"input {name!r} is not a CONDITIONING")
        return value

    def widget(self, name: str):
        value = self._raw(name)
        if _is_link(value):
            raise _node_error(self.node_id, self.class_type,
                              f"input {name!r} is linked; only literal widget values are supported")
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.widget(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _node_error(self.node_id, self.class_type, f"{name} must be an integer in [{low}, {high}], not {value!r}")
        return value

    def number(self, name: str, low: float, high: float) -> float:
        value = self.widget(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise _node_error(self.node_id, self.class_type, f"{name} must be a number in [{low}, {high}], not {value!r}")
        return float(value)

    def text(self, name: str) -> str:
        value = self.widget(name)
        if not isinstance(value, str):
            raise _node_error(self.node_id, self.class_type, f"{name} must be text, not {type(value).__name__}")
        return value

    def choice(self, name: str, options: Sequence[str]) -> str:
        value = self.text(name)
        if value not in options:
            raise _node_error(self.node_id, self.class_type, f"{name} {value!r} is not one of {', '.join(options)}")
        return value

    def flag(self, name: str, on: str = "enable", off: str = "disable") -> bool:
        value = self.widget(name)
        if isinstance(value, bool):
            return value
        if value in (on, off):
            return value == on
        raise _node_error(self.node_id, self.class_type, f"{name} must be {on!r} or {off!r}, not {value!r}")


def _is_link(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and not isinstance(value[0], bool) and isinstance(value[1], int) and not isinstance(value[1], bool))


# -- conditioning and guidance (comfy.samplers._calc_cond_batch, cfg_function) ------------
def _can_concat(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape == b.shape:
        return True
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        return False
    return math.lcm(a.shape[1], b.shape[1]) // min(a.shape[1], b.shape[1]) <= 4


def _concat(tensors: list[torch.Tensor]) -> torch.Tensor:
    length = tensors[0].shape[1]
    for t in tensors[1:]:
        length = math.lcm(length, t.shape[1])
    return torch.cat([t.repeat(1, length // t.shape[1], 1) if t.shape[1] < length else t for t in tensors])


def _to_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    """comfy.utils.repeat_to_batch_size."""
    if t.shape[0] == batch:
        return t
    if t.shape[0] > batch:
        return t[:batch]
    return t.repeat(math.ceil(batch / t.shape[0]), *([1] * (t.ndim - 1)))[:batch]


def guided_denoiser(model: ComfyModel, positive: Sequence[CondEntry], negative: Sequence[CondEntry] | None,
                    cfg: float):
    """The sampler's model(x, sigma): ComfyUI's sampling_function over lists of conds
    (areas: areas.py; the twins of area entries are made once, before cfg 1 drops the negative)."""
    prepared: dict[tuple, list] = {}

    def call(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        dims = tuple(x.shape[2:])
        if dims not in prepared:
            pos, neg = prepare_sides(positive, negative, dims)
            prepared[dims] = [pos, None if neg is None or math.isclose(cfg, 1.0) else neg]
        sides = prepared[dims]
        batch = x.shape[0]
        outs = [torch.zeros_like(x) for _ in sides]
        counts = [torch.ones_like(x) * 1e-37 for _ in sides]
        to_run = []  # (x crop, weight, text, side, y, area) per entry
        for side, entries in enumerate(sides):
            for e in entries or ():
                crop, mult, area = area_and_mult(x, e.area, e.strength)
                to_run.append((crop, mult, _to_batch(e.cross_attn, batch), side,
                               None if e.y is None else _to_batch(e.y, batch), area))
        while to_run:
            first = to_run[0]
            picked = [i for i, item in enumerate(to_run)
                      if item[0].shape == first[0].shape and _can_concat(item[2], first[2])]
            picked.reverse()
            runs = [to_run.pop(i) for i in picked]
            n = len(runs)
            ys = [r[4] for r in runs]
            y = None if ys[0] is None else torch.cat(ys)
            output = model(torch.cat([r[0] for r in runs]), torch.cat([sigma] * n), _concat([r[2] for r in runs]),
                           y).chunk(n)
            for o, (_x, mult, _c, side, _y, area) in enumerate(runs):
                accumulate(outs[side], counts[side], output[o], mult, area)
        for side in range(len(sides)):
            outs[side] /= counts[side]
        cond_pred, uncond_pred = outs
        return uncond_pred + (cond_pred - uncond_pred) * cfg

    return call


# -- the engine --------------------------------------------------------------------------
class GraphEngine:
    def __init__(self, graph: dict, resources: GraphResources):
        self.graph = graph
        self.resources = resources
        self.values: dict[str, tuple] = {}
        self.checkpoints: dict[str, LoadedCheckpoint] = {}
        self.order = plan(graph)

    # edges
    def output_of(self, link) -> Any:
        node_id, index = str(link[0]), link[1]
        return self.values[node_id][index]

    def run(self) -> GraphResult:
        images = {}
        with torch.no_grad():
            for node_id in self.order:
                node = self.graph[node_id]
                handler = NODE_TYPES[node["class_type"]]
                inputs = _Inputs(node_id, node["class_type"], node.get("inputs", {}), self)
                self.values[node_id] = handler(self, inputs)
                if node["class_type"] in OUTPUT_NODES:
                    images[node_id] = self.values[node_id][0]
        return GraphResult(images, self.values)

    # models
    def checkpoint(self, name: str) -> LoadedCheckpoint:
        if name not in self.checkpoints:
            model = self.resources.checkpoint(name)
            if model is None:
                raise ModelUnavailable(f"checkpoint {name!r} not found", model=name)
            ms = ModelSamplingDiscrete(float(model.beta_start), float(model.beta_end), int(model.num_train_timesteps),
                                       comfy_beta_schedule(str(model.beta_schedule)),
                                       "v_prediction" if model.prediction_type == "v_prediction" else "eps")
            self.checkpoints[name] = LoadedCheckpoint(name, model, ms, vae_factor(model.vae))
        return self.checkpoints[name]

    def latent_factor(self) -> int:
        factors = {c.latent_factor for c in self.checkpoints.values()}
        if len(factors) > 1:
            raise UnsupportedFeature(f"checkpoints with different VAE factors {sorted(factors)} in one graph")
        return factors.pop() if factors else 8

    def clip(self, value: ClipValue) -> ComfyClip | SdxlClip:
        key = (value.patches, self.resources.text_encoder_dtype)
        ckpt = value.checkpoint
        if ckpt.family in SDXL_FAMILIES:
            if key not in ckpt.clips:
                clip = SdxlClip(ckpt.model, self.resources.text_encoder_dtype)
                if value.patches:
                    # each encoder takes its own prefixes' keys; the UNet's and the other
                    # encoder's keys are left to them
                    unet_keys = frozenset(unet_targets(ckpt.model.unet))
                    all_keys = clip.lora_keys()
                    for member, prefixes in clip.members():
                        targets = member.lora_targets(prefixes)
                        member.weights = patched_weights(member.weights, targets, value.patches,
                                                         unet_keys | frozenset(all_keys - set(targets)))
                ckpt.clips[key] = clip
            return ckpt.clips[key]
        if key not in ckpt.clips:
            clip = ComfyClip(ckpt.model.tokenizer, ckpt.model.text_encoder, self.resources.text_encoder_dtype)
            if value.patches:
                clip.weights = patched_weights(clip.weights, _clip_param_targets(clip), value.patches,
                                               frozenset(unet_targets(ckpt.model.unet)))
            ckpt.clips[key] = clip
        return ckpt.clips[key]

    def lora_path(self, name: str) -> str:
        if self.resources.lora is None:
            raise ModelUnavailable(f"LoRA {name!r}: no LoRA folder given", lora=name)
        path = self.resources.lora(name)
        if path is None:
            raise ModelUnavailable(f"LoRA {name!r} not found", lora=name)
        return str(path)

    def sample(self, model: ModelValue, positive, negative, cfg: float, sampler_name: str, sigmas: torch.Tensor,
               noise: torch.Tensor, latent: torch.Tensor, seed: int, want_denoised: bool = False):
        """CFGGuider.sample -> KSAMPLER.sample on the patched UNet; (samples, last denoised or None)."""
        ckpt = model.checkpoint
        if sigmas.numel() == 0:
            return latent, None
        unet = ckpt.model.unet
        positive, negative = (_model_conds(ckpt, side, latent.shape, kind)
                              for side, kind in ((positive, "positive"), (negative, "negative")))
        comfy_model = ComfyModel(sdxl_unet_fn(unet) if ckpt.family in SDXL_FAMILIES else _unet_fn(unet),
                                 model.model_sampling)
        denoiser = guided_denoiser(comfy_model, positive, negative, cfg)
        ms = model.model_sampling
        scale = ckpt.scale_factor
        scaled = latent * scale if torch.count_nonzero(latent) > 0 else latent
        x = ms.noise_scaling(sigmas[0], noise, scaled, ms.is_max_denoise(sigmas))
        last = {}
        callback = (lambda info: last.__setitem__("x0", info["denoised"])) if want_denoised else None
        with _patched_unet(unet, model.patches, ckpt):
            samples = SAMPLERS[sampler_name](denoiser, x, sigmas, seed=seed, callback=callback)
        samples = samples.to(torch.float32) / scale
        denoised = last["x0"].to(torch.float32) / scale if "x0" in last else None
        return samples, denoised


def _model_conds(ckpt: LoadedCheckpoint, entries, latent_shape, prompt_type: str):
    """encode_model_conds for one side: the family's checks and, for SDXL, each entry's y."""
    if entries is None:
        return None
    width = int(ckpt.model.unet.config.cross_attention_dim)
    out = []
    for e in entries:
        if e.cross_attn.shape[-1] != width:
            raise InvalidSyntax(f"a conditioning of width {e.cross_attn.shape[-1]} reaches checkpoint "
                                f"{ckpt.name!r}, whose UNet takes {width} (text encoded by another model family?)")
        if ckpt.family in SDXL_FAMILIES:
            sizes = size_conditioning(dict(e.sizes) if e.sizes else None, latent_shape,
                                      ckpt.family == "sdxl-refiner", prompt_type)
            e = replace(e, y=adm(e.pooled, sizes, ckpt.model.time_embed_dim))
        out.append(e)
    return out


def vae_factor(vae) -> int:
    channels = getattr(getattr(vae, "config", None), "block_out_channels", None)
    if not channels:
        return 8
    return 2 ** (len(channels) - 1)


def _unet_fn(unet):
    def call(x, t, context):
        return unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
    return call


def _clip_param_targets(clip: ComfyClip) -> dict[str, str]:
    return clip.lora_targets()


class _patched_unet:
    """Swap LoRA-patched weights into the UNet for one sampler run, originals back after."""

    def __init__(self, unet, patches: Sequence[LoraPatch], ckpt: LoadedCheckpoint):
        self.unet, self.patches, self.ckpt = unet, tuple(patches), ckpt
        self.saved: dict[str, torch.Tensor] = {}

    def __enter__(self):
        if not self.patches:
            return self
        targets = unet_targets(self.unet)
        params = dict(self.unet.named_parameters())
        weights = {name: params[name].detach() for name in targets.values()}
        clip_keys = frozenset(self.ckpt.clip_lora_keys())
        new = patched_weights(weights, targets, self.patches, clip_keys)
        with torch.no_grad():
            for name, value in new.items():
                if value is not weights[name]:
                    self.saved[name] = params[name].detach().clone()
                    params[name].copy_(value)
        return self

    def __exit__(self, *exc):
        params = dict(self.unet.named_parameters())
        with torch.no_grad():
            for name, value in self.saved.items():
                params[name].copy_(value)
        return False


# -- planning: validation, refusal, order --------------------------------------------------
def plan(graph) -> list[str]:
    """Check the graph's shape and node types; the evaluation order (dependencies first)."""
    if not isinstance(graph, dict) or not graph:
        raise InvalidSyntax("a ComfyUI API graph is a non-empty object of nodes")
    if len(graph) > limits.COMFYUI_MAX_NODES:
        raise LimitExceeded(f"ComfyUI graph of {len(graph)} nodes, over {limits.COMFYUI_MAX_NODES}")
    unsupported = set()
    for node_id, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise InvalidSyntax(f"ComfyUI node {node_id!r} has no class_type")
        if not isinstance(node.get("inputs", {}), dict):
            raise InvalidSyntax(f"ComfyUI node {node_id!r}: inputs is not an object")
        if node["class_type"] not in NODE_TYPES:
            unsupported.add(node["class_type"])
    if unsupported:
        raise UnsupportedFeature(unsupported_message(unsupported), node_types=sorted(unsupported))
    deps: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        deps[node_id] = []
        for name, value in node.get("inputs", {}).items():
            if _is_link(value):
                target = str(value[0])
                if target not in graph:
                    raise InvalidSyntax(f"ComfyUI node {node_id} input {name!r} links to missing node {target!r}")
                outputs = OUTPUT_COUNTS[graph[target]["class_type"]]
                if not 0 <= value[1] < outputs:
                    raise InvalidSyntax(f"ComfyUI node {node_id} input {name!r} links to output {value[1]} of node "
                                        f"{target} ({graph[target]['class_type']}, {outputs} outputs)")
                deps[node_id].append(target)
    outputs = [n for n, node in graph.items() if node["class_type"] in OUTPUT_NODES]
    if not outputs:
        raise InvalidSyntax("ComfyUI graph has no SaveImage or PreviewImage output")
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in sorted(outputs, key=_node_sort_key):
        stack = [(root, 0)]
        while stack:
            node_id, i = stack.pop()
            if i == 0:
                if state.get(node_id) == 2:
                    continue
                state[node_id] = 1
                if len(stack) >= limits.COMFYUI_MAX_DEPTH:
                    raise LimitExceeded(f"ComfyUI graph deeper than {limits.COMFYUI_MAX_DEPTH} nodes")
            if i < len(deps[node_id]):
                stack.append((node_id, i + 1))
                child = deps[node_id][i]
                if state.get(child) == 1:
                    raise InvalidSyntax(f"ComfyUI graph has a cycle through node {child}")
                if state.get(child) != 2:
                    stack.append((child, 0))
            else:
                state[node_id] = 2
                order.append(node_id)
    # checkpoints first: EmptyLatentImage and LatentUpscale need their VAE's factor
    return ([n for n in order if graph[n]["class_type"] == "CheckpointLoaderSimple"]
            + [n for n in order if graph[n]["class_type"] != "CheckpointLoaderSimple"])


def _node_sort_key(node_id: str):
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


# -- the nodes -------------------------------------------------------------------------------
def _checkpoint_loader(engine: GraphEngine, inp: _Inputs):
    name = inp.text("ckpt_name")
    ckpt = engine.checkpoint(name)
    return ModelValue(ckpt), ClipValue(ckpt), VaeValue(ckpt.model.vae, name)


def _clip_set_last_layer(engine, inp):
    clip = inp.link("clip", ClipValue)
    try:
        layer = check_last_layer(inp.widget("stop_at_clip_layer"))
    except InvalidSyntax as exc:
        raise _node_error(inp.node_id, inp.class_type, str(exc.args[0])) from None
    return (ClipValue(clip.checkpoint, layer, clip.patches),)


def _clip_text_encode(engine, inp):
    clip = inp.link("clip", ClipValue)
    text = inp.text("text")
    cond, pooled = engine.clip(clip).encode_text(text, clip.layer_idx)
    return ((CondEntry(cond, pooled),),)


SDXL_SIZE_INPUTS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")


def _clip_text_encode_sdxl(engine, inp):
    """CLIPTextEncodeSDXL: text_g for CLIP-G, text_l for CLIP-L, and the size conditioning.
    On an SD 1.x CLIP (tokens {"l"} only) ComfyUI encodes text_l and the sizes go unused."""
    clip = inp.link("clip", ClipValue)
    sizes = tuple((name, inp.integer(name, 0, 16384)) for name in SDXL_SIZE_INPUTS)
    text_g, text_l = inp.text("text_g"), inp.text("text_l")
    encoder = engine.clip(clip)
    if isinstance(encoder, SdxlClip):
        cond, pooled = encoder.encode(encoder.tokenize_pair(text_g, text_l), clip.layer_idx)
    else:
        cond, pooled = encoder.encode_text(text_l, clip.layer_idx)
    return ((CondEntry(cond, pooled, sizes=sizes),),)


def _clip_text_encode_sdxl_refiner(engine, inp):
    """CLIPTextEncodeSDXLRefiner: the text with an aesthetic score and a size (an SD 1.x or
    SDXL base model ignores what its encode_adm does not read)."""
    clip = inp.link("clip", ClipValue)
    ascore = inp.number("ascore", 0.0, 1000.0)
    sizes = (("aesthetic_score", ascore), ("width", inp.integer("width", 0, 16384)),
             ("height", inp.integer("height", 0, 16384)))
    cond, pooled = engine.clip(clip).encode_text(inp.text("text"), clip.layer_idx)
    return ((CondEntry(cond, pooled, sizes=sizes),),)


def _lora_loader(engine, inp, model_only: bool = False):
    model = inp.link("model", ModelValue)
    clip = None if model_only else inp.link("clip", ClipValue)
    name = inp.text("lora_name")
    strength_model = inp.number("strength_model", -100.0, 100.0)
    strength_clip = 0.0 if model_only else inp.number("strength_clip", -100.0, 100.0)
    if strength_model == 0 and strength_clip == 0:
        return (model,) if model_only else (model, clip)
    path = engine.lora_path(name)
    if strength_model != 0:
        model = replace(model, patches=model.patches + (LoraPatch(path, strength_model, name),))
    if model_only:
        return (model,)
    if strength_clip != 0:
        clip = ClipValue(clip.checkpoint, clip.layer_idx, clip.patches + (LoraPatch(path, strength_clip, name),))
    return model, clip


def _vae_loader(engine, inp):
    name = inp.text("vae_name")
    if engine.resources.vae is None:
        raise ModelUnavailable(f"VAE {name!r}: no VAE folder given", vae=name)
    vae = engine.resources.vae(name)
    if vae is None:
        raise ModelUnavailable(f"VAE {name!r} not found", vae=name)
    return (VaeValue(vae, name),)


def _vae_decode(engine, inp):
    latent = inp.link("samples", LatentValue)
    vae = inp.link("vae", VaeValue)
    image = vae.vae.decode(latent.samples, return_dict=False)[0]
    return (ImageValue(torch.clamp((image.float() + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1)),)


def _check_latent(node: _Inputs, shape) -> None:
    if math.prod(shape) > limits.COMFYUI_MAX_LATENT_ELEMENTS or min(shape) < 1:
        raise LimitExceeded(f"ComfyUI node {node.node_id} ({node.class_type}): latent {list(shape)} is outside "
                            f"1..{limits.COMFYUI_MAX_LATENT_ELEMENTS} elements")


def _empty_latent(engine, inp):
    width = inp.integer("width", 16, 16384)
    height = inp.integer("height", 16, 16384)
    batch = inp.integer("batch_size", 1, 4096)
    f = engine.latent_factor()
    shape = [batch, 4, height // f, width // f]
    _check_latent(inp, shape)
    return (LatentValue(torch.zeros(shape)),)


def _sampler_name(inp) -> str:
    return inp.choice("sampler_name", tuple(SAMPLERS))


def _ksampler(engine, inp, advanced: bool = False):
    model = inp.link("model", ModelValue)
    seed = inp.integer("noise_seed" if advanced else "seed", 0, SEED_MAX)
    steps = inp.integer("steps", 1, limits.COMFYUI_MAX_STEPS)
    cfg = inp.number("cfg", 0.0, 100.0)
    sampler_name = _sampler_name(inp)
    scheduler = inp.choice("scheduler", SCHEDULER_NAMES)
    positive, negative = inp.conditioning("positive"), inp.conditioning("negative")
    latent = inp.link("latent_image", LatentValue).samples
    if advanced:
        add_noise = inp.flag("add_noise")
        start = inp.integer("start_at_step", 0, limits.COMFYUI_MAX_STEPS)
        end = inp.integer("end_at_step", 0, limits.COMFYUI_MAX_STEPS)
        force_full = not inp.flag("return_with_leftover_noise")
        denoise = 1.0
    else:
        add_noise, start, end, force_full = True, None, None, False
        denoise = inp.number("denoise", 0.0, 1.0)
    noise = prepare_noise(latent.shape, seed) if add_noise else torch.zeros(latent.shape)
    ms = model.model_sampling
    window = step_window(ksampler_sigmas(ms, sampler_name, scheduler, steps, denoise), start, end, force_full)
    if window.skip:
        return (LatentValue(latent),)
    samples, _ = engine.sample(model, positive, negative, cfg, sampler_name, window.sigmas, noise, latent, seed)
    return (LatentValue(samples),)


def _latent_upscale(engine, inp, by: bool = False):
    latent = inp.link("samples", LatentValue).samples
    method = inp.choice("upscale_method", UPSCALE_METHODS)
    if method == "bislerp":
        raise UnsupportedFeature(f"ComfyUI node {inp.node_id} ({inp.class_type}): upscale_method 'bislerp' is not "
                                 "supported by this engine", node=inp.node_id)
    if by:
        scale = inp.number("scale_by", 0.01, 8.0)
        width, height = round(latent.shape[-1] * scale), round(latent.shape[-2] * scale)
        crop = "disabled"
    else:
        width = inp.integer("width", 0, 16384)
        height = inp.integer("height", 0, 16384)
        crop = inp.choice("crop", ("disabled", "center"))
        if width == 0 and height == 0:
            return (LatentValue(latent),)
        if width == 0:
            height = max(64, height)
            width = max(64, round(latent.shape[-1] * height / latent.shape[-2]))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(latent.shape[-2] * width / latent.shape[-1]))
        else:
            width, height = max(64, width), max(64, height)
        f = engine.latent_factor()
        width, height = width // f, height // f
    _check_latent(inp, [latent.shape[0], latent.shape[1], height, width])
    return (LatentValue(common_upscale(latent, width, height, method, crop)),)


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """comfy.utils.common_upscale for 4-D latents and the interpolate modes."""
    if crop == "center":
        old_width, old_height = samples.shape[-1], samples.shape[-2]
        old_aspect, new_aspect = old_width / old_height, width / height
        x = y = 0
        if old_aspect > new_aspect:
            x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
        elif old_aspect < new_aspect:
            y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
        samples = samples.narrow(-2, y, old_height - y * 2).narrow(-1, x, old_width - x * 2)
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


def _conditioning_combine(engine, inp):
    combined = inp.conditioning("conditioning_1") + inp.conditioning("conditioning_2")
    if len(combined) > limits.COMFYUI_MAX_CONDITIONING:  # a chain of self-combines doubles at each node
        raise LimitExceeded(f"ComfyUI node {inp.node_id} ({inp.class_type}): a conditioning of {len(combined)} "
                            f"entries, over {limits.COMFYUI_MAX_CONDITIONING}")
    return (combined,)


def _conditioning_concat(engine, inp):
    to, source = inp.conditioning("conditioning_to"), inp.conditioning("conditioning_from")
    if not source:
        raise _node_error(inp.node_id, inp.class_type, "conditioning_from is empty")
    first = source[0].cross_attn
    return (tuple(replace(e, cross_attn=torch.cat((e.cross_attn, first), 1)) for e in to),)


MAX_RESOLUTION = 16384  # nodes.MAX_RESOLUTION


def _model_sampling_discrete(engine, inp):
    model = inp.link("model", ModelValue)
    sampling = inp.choice("sampling", SAMPLINGS)
    zsnr = inp.widget("zsnr")
    if not isinstance(zsnr, bool):
        raise _node_error(inp.node_id, inp.class_type, f"zsnr must be true or false, not {zsnr!r}")
    return (replace(model, sampling=model.model_sampling.patched(sampling, zsnr)),)


def _conditioning_set_area(engine, inp):
    """ConditioningSetArea: the pixel box // 8 (ComfyUI's VAE factor; here the checkpoint VAE's,
    as EmptyLatentImage), at least ComfyUI's 64 pixels = 8 latent cells a side."""
    cond = inp.conditioning("conditioning")
    f = engine.latent_factor()
    width, height = (inp.integer(name, 8 * f, MAX_RESOLUTION) for name in ("width", "height"))
    x, y = (inp.integer(name, 0, MAX_RESOLUTION) for name in ("x", "y"))
    strength = inp.number("strength", 0.0, 10.0)
    area = (height // f, width // f, y // f, x // f)
    return (tuple(replace(e, area=area, strength=strength) for e in cond),)


def _conditioning_set_area_percentage(engine, inp):
    cond = inp.conditioning("conditioning")
    width, height, x, y = (inp.number(name, 0.0, 1.0) for name in ("width", "height", "x", "y"))
    strength = inp.number("strength", 0.0, 10.0)
    return (tuple(replace(e, area=(PERCENTAGE, height, width, y, x), strength=strength) for e in cond),)


def _conditioning_set_area_strength(engine, inp):
    cond = inp.conditioning("conditioning")
    strength = inp.number("strength", 0.0, 10.0)
    return (tuple(replace(e, strength=strength) for e in cond),)


def _basic_scheduler(engine, inp):
    model = inp.link("model", ModelValue)
    scheduler = inp.choice("scheduler", SCHEDULER_NAMES)
    steps = inp.integer("steps", 1, limits.COMFYUI_MAX_STEPS)
    denoise = inp.number("denoise", 0.0, 1.0)
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return (torch.zeros(0),)
        total = int(steps / denoise)
        if total > limits.COMFYUI_MAX_STEPS * 100:
            raise LimitExceeded(f"BasicScheduler of {total} steps")
    sigmas = calculate_sigmas(model.model_sampling, scheduler, total)
    return (sigmas[-(steps + 1):],)


def _ksampler_select(engine, inp):
    return (SamplerValue(_sampler_name(inp)),)


def _random_noise(engine, inp):
    return (NoiseValue(inp.integer("noise_seed", 0, SEED_MAX)),)


def _disable_noise(engine, inp):
    return (NoiseValue(None),)


def _cfg_guider(engine, inp):
    return (GuiderValue(inp.link("model", ModelValue), inp.conditioning("positive"), inp.conditioning("negative"),
                        inp.number("cfg", 0.0, 100.0)),)


def _basic_guider(engine, inp):
    return (GuiderValue(inp.link("model", ModelValue), inp.conditioning("conditioning"), None, 1.0),)


def _sigmas(inp) -> torch.Tensor:
    sigmas = inp.link("sigmas", torch.Tensor)
    if sigmas.ndim != 1:
        raise _node_error(inp.node_id, inp.class_type, "sigmas must be one-dimensional")
    return sigmas.to(torch.float32)


def _custom_result(engine, samples, denoised):
    return LatentValue(samples), LatentValue(denoised if denoised is not None else samples)


def _sampler_custom(engine, inp):
    model = inp.link("model", ModelValue)
    add_noise = inp.flag("add_noise", True, False)
    seed = inp.integer("noise_seed", 0, SEED_MAX)
    cfg = inp.number("cfg", 0.0, 100.0)
    positive, negative = inp.conditioning("positive"), inp.conditioning("negative")
    sampler = inp.link("sampler", SamplerValue)
    sigmas = _sigmas(inp)
    latent = inp.link("latent_image", LatentValue).samples
    noise = prepare_noise(latent.shape, seed) if add_noise else torch.zeros(latent.shape)
    samples, denoised = engine.sample(model, positive, negative, cfg, sampler.name, sigmas, noise, latent, seed, True)
    return _custom_result(engine, samples, denoised)


def _sampler_custom_advanced(engine, inp):
    noise_value = inp.link("noise", NoiseValue)
    guider = inp.link("guider", GuiderValue)
    sampler = inp.link("sampler", SamplerValue)
    sigmas = _sigmas(inp)
    latent = inp.link("latent_image", LatentValue).samples
    if noise_value.seed is None:
        noise, seed = torch.zeros(latent.shape), 0
    else:
        noise, seed = prepare_noise(latent.shape, noise_value.seed), noise_value.seed
    samples, denoised = engine.sample(guider.model, guider.positive, guider.negative, guider.cfg, sampler.name,
                                      sigmas, noise, latent, seed, True)
    return _custom_result(engine, samples, denoised)


def _save_image(engine, inp):
    image = inp.link("images", ImageValue)
    pixels = np.clip(255. * image.pixels.cpu().numpy(), 0, 255).astype(np.uint8)
    return (pixels,)


NODE_TYPES: dict[str, Callable] = {
    "CheckpointLoaderSimple": _checkpoint_loader,
    "CLIPSetLastLayer": _clip_set_last_layer,
    "CLIPTextEncode": _clip_text_encode,
    "CLIPTextEncodeSDXL": _clip_text_encode_sdxl,
    "CLIPTextEncodeSDXLRefiner": _clip_text_encode_sdxl_refiner,
    "LoraLoader": _lora_loader,
    "LoraLoaderModelOnly": lambda e, i: _lora_loader(e, i, model_only=True),
    "VAELoader": _vae_loader,
    "VAEDecode": _vae_decode,
    "EmptyLatentImage": _empty_latent,
    "KSampler": _ksampler,
    "KSamplerAdvanced": lambda e, i: _ksampler(e, i, advanced=True),
    "LatentUpscale": _latent_upscale,
    "LatentUpscaleBy": lambda e, i: _latent_upscale(e, i, by=True),
    "ConditioningCombine": _conditioning_combine,
    "ConditioningConcat": _conditioning_concat,
    "ConditioningSetArea": _conditioning_set_area,
    "ConditioningSetAreaPercentage": _conditioning_set_area_percentage,
    "ConditioningSetAreaStrength": _conditioning_set_area_strength,
    "ModelSamplingDiscrete": _model_sampling_discrete,
    "BasicScheduler": _basic_scheduler,
    "KSamplerSelect": _ksampler_select,
    "RandomNoise": _random_noise,
    "DisableNoise": _disable_noise,
    "CFGGuider": _cfg_guider,
    "BasicGuider": _basic_guider,
    "SamplerCustom": _sampler_custom,
    "SamplerCustomAdvanced": _sampler_custom_advanced,
    "SaveImage": _save_image,
    "PreviewImage": _save_image,
}
OUTPUT_COUNTS = {name: 1 for name in NODE_TYPES}
OUTPUT_COUNTS.update({"SaveImage": 0, "PreviewImage": 0, "CheckpointLoaderSimple": 3, "LoraLoader": 2, "SamplerCustom": 2, "SamplerCustomAdvanced": 2})


def run_graph(graph: dict, resources: GraphResources) -> GraphResult:
    """Validate and run an API-format graph.  Unknown node types, bad links, cycles and size
    limits are refused before any model is loaded; bad widget values when their node runs."""
    return GraphEngine(graph, resources).run()
