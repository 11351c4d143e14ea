"""LoRA as ComfyUI's LoraLoader / LoraLoaderModelOnly patch a model (comfy.sd.load_lora_for_models,
comfy.lora.load_lora / calculate_weight, comfy.weight_adapter.lora.LoRAAdapter,
ModelPatcher.patch_weight_to_device), onto diffusers modules.

Arithmetic, per patched weight, the patches in the order the loaders were chained:
    w = weight.float()                       (a float32 copy, also of a float16 CLIP weight)
    w += ((strength * alpha / rank) * (up.flatten(1) @ down.flatten(1)).reshape(w.shape))
    weight = w rounded back to the weight's dtype
with alpha / rank = 1 without an alpha, `strength` the loader's strength_model for the
UNet's keys and strength_clip for the text encoder's (each applies to its own model only),
the scalar product formed first in Python floats (A1111 multiplies the tensor by scale and
then by the multiplier: other bits).

Keys: kohya names.  `lora_unet_<path>` is the diffusers UNet module path with '.' as '_'
(what ComfyUI reaches through its unet_to_diffusers map) or the LDM/SGM UNet's module path
(input_blocks.N..., what SDXL kohya LoRAs use: sgm_name); `lora_te_text_model_encoder_layers_N_<part>`
the CLIP encoder layers' q/k/v/out projections and MLP (ComfyUI's LORA_CLIP_MAP), for SDXL
`lora_te1_` (CLIP-L) and `lora_te2_` (CLIP-G).  The
file reading and refusals (safetensors only; LyCORIS, DoRA and mid weights refused) are the
A1111 engine's load_lora_modules.  Where ComfyUI logs "NOT LOADED" for a key no model has
and goes on, this engine refuses the file, naming the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

from ....errors import LimitExceeded, UnsupportedFeature
from ..a1111.lora import load_lora_modules, LoraModule
from .... import limits



@dataclass(frozen=True)
class LoraPatch:
    """One LoraLoader's file with the strength for the model it was applied to."""
    path: str
    strength: float
    name: str = ""


def unet_targets(unet) -> dict[str, str]:
    """kohya key stem -> parameter name of a diffusers UNet's Linear/Conv2d weights, under
    both namings ComfyUI maps: the diffusers module path (SD 1.x kohya LoRAs) and the
    original (SGM/LDM) UNet's module path (SDXL kohya LoRAs, trained on that UNet)."""
    table = {}
    for name, module in unet.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            table["lora_unet_" + name.replace(".", "_")] = name + ".weight"
            sgm = sgm_name(unet.config, name)
            if sgm is not None:
                table.setdefault("lora_unet_" + sgm.replace(".", "_"), name + ".weight")
    return table


# diffusers ResnetBlock2D part -> the LDM ResBlock's
_RESNET_PARTS = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                 "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_TOP = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2", "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2", "conv_norm_out": "out.0", "conv_out": "out.2"}


def _layers(config, block: int) -> int:
    layers = config.layers_per_block
    return int(layers[block] if isinstance(layers, (list, tuple)) else layers)


def _resnet_part(rest: str) -> str | None:
    head, _, tail = rest.partition(".")
    part = _RESNET_PARTS.get(head)
    return None if part is None else (part + ("." + tail if tail else ""))


def sgm_name(config, name: str) -> str | None:
    """The LDM/SGM UNet's module path for a diffusers UNet2DConditionModel module path
    (the numbering of input_blocks / middle_block / output_blocks), or None."""
    if name in _TOP:
        return _TOP[name]
    parts = name.split(".")
    if parts[0] == "down_blocks" and len(parts) >= 4:
        x, kind, i, rest = int(parts[1]), parts[2], parts[3], ".".join(parts[4:])
        start = 1 + sum(_layers(config, b) + 1 for b in range(x))
        if kind == "resnets":
            part = _resnet_part(rest)
            return None if part is None else f"input_blocks.{start + int(i)}.0.{part}"
        if kind == "attentions":
            return f"input_blocks.{start + int(i)}.1.{rest}"
        if kind == "downsamplers" and i == "0" and rest.startswith("conv"):
            return f"input_blocks.{start + _layers(config, x)}.0.op{rest[len('conv'):]}"
        return None
    if parts[0] == "mid_block" and len(parts) >= 3:
        kind, i, rest = parts[1], parts[2], ".".join(parts[3:])
        if kind == "resnets":
            part = _resnet_part(rest)
            return None if part is None else f"middle_block.{2 * int(i)}.{part}"
        if kind == "attentions" and i == "0":
            return f"middle_block.1.{rest}"
        return None
    if parts[0] == "up_blocks" and len(parts) >= 4:
        x, kind, i, rest = int(parts[1]), parts[2], parts[3], ".".join(parts[4:])
        count = len(config.block_out_channels)
        # up block x mirrors down block count-1-x and has one resnet more than it
        start = sum(_layers(config, count - 1 - b) + 1 for b in range(x))
        if kind == "resnets":
            part = _resnet_part(rest)
            return None if part is None else f"output_blocks.{start + int(i)}.0.{part}"
        if kind == "attentions":
            return f"output_blocks.{start + int(i)}.1.{rest}"
        if kind == "upsamplers" and i == "0" and rest.startswith("conv"):
            last = start + _layers(config, count - 1 - x)
            has_attention = "CrossAttn" in str(config.up_block_types[x])
            return f"output_blocks.{last}.{2 if has_attention else 1}.conv{rest[len('conv'):]}"
    return None


def patch_weight(weight: torch.Tensor, lora: LoraModule, strength: float) -> torch.Tensor:
    """weight + ComfyUI's LoRA difference, in float32 (the caller rounds to the stored dtype)."""
    up = lora.up.to(torch.float32)
    down = lora.down.to(torch.float32)
    alpha = lora.alpha / down.shape[0] if lora.alpha is not None else 1.0
    diff = torch.mm(up.flatten(start_dim=1), down.flatten(start_dim=1)).reshape(weight.shape)
    weight += ((strength * alpha) * diff).type(weight.dtype)
    return weight


def _modules_by_file(patches: Sequence[LoraPatch]) -> dict[str, list[LoraModule]]:
    loaded: dict[str, list[LoraModule]] = {}
    for patch in patches:
        if patch.path not in loaded:
            loaded[patch.path] = load_lora_modules(patch.path)
    return loaded


def patched_weights(weights: dict[str, torch.Tensor], targets: dict[str, str], patches: Sequence[LoraPatch],
                    other_targets: frozenset[str] = frozenset()) -> dict[str, torch.Tensor]:
    """The weights with every patch's keys for this model applied (a new dict; the
    unpatched tensors are shared).  Keys meant for the other model (other_targets: the
    text encoder's for a UNet, and back) are left to it; a key neither has is refused."""
    if len(patches) > limits.COMFYUI_MAX_LORA_PATCHES:
        raise LimitExceeded(f"{len(patches)} LoRA patches, over {limits.COMFYUI_MAX_LORA_PATCHES}")
    loaded = _modules_by_file(patches)
    out = dict(weights)
    work: dict[str, torch.Tensor] = {}
    for patch in patches:
        for lora in loaded[patch.path]:
            target = targets.get(lora.key)
            if target is None:
                if lora.key in other_targets:
                    continue
                raise UnsupportedFeature(f"LoRA {os.path.basename(patch.path)}: key {lora.key} matches no module of "
                                         "this model (another architecture, or a naming this engine does not map)",
                                         lora=patch.name or patch.path)
            original = weights[target]
            if lora.up.shape[0] != original.shape[0] or lora.up.flatten(start_dim=1).shape[1] != lora.down.shape[0] or \
                    lora.down.flatten(start_dim=1).shape[1] * lora.up.shape[0] != original[0].numel() * original.shape[0]:
                raise UnsupportedFeature(f"LoRA {os.path.basename(patch.path)}: {lora.key} is shaped for another model "
                                         f"(up {tuple(lora.up.shape)}, down {tuple(lora.down.shape)}, weight "
                                         f"{tuple(original.shape)})", lora=patch.name or patch.path)
            if target not in work:
                work[target] = original.to(torch.float32, copy=True)
            patch_weight(work[target], lora, patch.strength)
    for target, value in work.items():
        out[target] = value.to(weights[target].dtype)
    return out
