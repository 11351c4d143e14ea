"""SDXL under ComfyUI's arithmetic: the checkpoint's two text encoders and the `y` vector
(ComfyUI's "adm") that carries the pooled text embedding and the size conditioning.

What ComfyUI computes, from comfy/sdxl_clip.py, comfy/model_base.py (SDXL.encode_adm) and
comfy/samplers.py (encode_model_conds), checked against its own code
(tests/goldens/comfyui/sdxl.json):

- CLIPTextEncode on an SDXL checkpoint tokenizes the text twice, for CLIP-L (padded with
  the end token) and CLIP-G (padded with token 0); both encoders stop at the penultimate
  layer by default, with no final layer norm on it; CLIPSetLastLayer moves both.  The
  cross-attention tensor is [L-out | G-out] on the channel axis (cut to the shorter token
  length), the pooled vector is CLIP-G's, projected.
- CLIPTextEncodeSDXL tokenizes text_g for G and text_l for L; when the chunk counts differ
  the shorter side gets chunks of the empty prompt appended; it records width, height,
  crop_w, crop_h, target_width and target_height on the conditioning.
- When the sampler runs, each conditioning's y is pooled + the sinusoidal embeddings
  (cos half first, ComfyUI's timestep_embedding) of height, width, crop_h, crop_w,
  target_height, target_width; sizes not recorded are the latent's size times 8 (ComfyUI's
  fixed factor, whatever the VAE), crops 0, targets the sizes.
- The latent space is SDXL's: scale factor 0.13025.
- The SDXL *refiner* (SDXLRefiner, SDXLRefinerClipModel) has CLIP-G only: its cross-attention
  tensor is G's output alone; its y is pooled + height, width, crop_h, crop_w and an aesthetic
  score (CLIPTextEncodeSDXLRefiner's ascore, else 6 for the positive side and 2.5 for the
  negative: encode_model_conds passes the side as prompt_type).

The UNet is a diffusers UNet2DConditionModel with addition_embed_type "text_time"; ComfyUI's
y is handed to its add_embedding as it is (see sdxl_unet_fn), so diffusers' own size
embedding is not used and the model sees ComfyUI's numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ....errors import InvalidSyntax, ModelUnavailable, UnsupportedFeature
from .text import SDXL_CLIP_G, SDXL_CLIP_L, ComfyClip, TokenWeights

SDXL_SCALE_FACTOR = 0.13025
SIZE_KEYS = ("height", "width", "crop_h", "crop_w", "target_height", "target_width")  # encode_adm's order
REFINER_KEYS = ("height", "width", "crop_h", "crop_w", "aesthetic_score")  # SDXLRefiner.encode_adm's order
REFINER_ASCORE = {"positive": 6.0, "negative": 2.5}
# model_lora_keys_clip: SDXL's CLIP-L answers to lora_te_ and lora_te1_, its CLIP-G to
# lora_te2_; a refiner's CLIP-G (no CLIP-L beside it) to lora_te_
LORA_PREFIXES_L = ("lora_te_", "lora_te1_")
LORA_PREFIXES_G = ("lora_te2_",)
LORA_PREFIXES_REFINER_G = ("lora_te_",)
# the engine computes in float32: a folder whose weights are stored in float16 is upcast on
# load (transformers would otherwise keep a text encoder in its config's dtype)
FLOAT32 = torch.float32
COMFY_LATENT_FACTOR = 8  # encode_model_conds: "TODO: 8 multiple should be set by the model"


@dataclass
class SdxlModel:
    """An SDXL base or refiner checkpoint as diffusers components (a refiner has no CLIP-L:
    tokenizer and text_encoder are None, family "sdxl-refiner")."""
    unet: torch.nn.Module
    vae: torch.nn.Module
    tokenizer: object | None
    text_encoder: torch.nn.Module | None
    tokenizer_2: object
    text_encoder_2: torch.nn.Module
    beta_start: float = 0.00085
    beta_end: float = 0.012
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "epsilon"
    device: str = "cpu"
    name: str = ""
    family: str = "sdxl"

    @property
    def time_embed_dim(self) -> int:
        """The width of each size embedding (256 in SDXL; the UNet's addition_time_embed_dim)."""
        return int(self.unet.config.addition_time_embed_dim)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", name: str = "") -> "SdxlModel":
        """Loads a diffusers StableDiffusionXL(Img2Img)Pipeline folder (local files only): a base
        model has text_encoder/ and tokenizer/, a refiner only their _2 twins."""
        from diffusers import AutoencoderKL, UNet2DConditionModel  # lazy: torch stack
        from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # lazy: as above

        path = Path(path)
        refiner = not (path / "text_encoder").is_dir()
        parts = ("unet", "vae", "text_encoder_2", "tokenizer_2", "scheduler") + (() if refiner else ("tokenizer",))
        for part in parts:
            if not (path / part).is_dir():
                raise ModelUnavailable(f"{path} has no {part}/ folder: not a diffusers SDXL model", model=str(path))
        config = json.loads((path / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
        unet = UNet2DConditionModel.from_pretrained(str(path / "unet"), local_files_only=True, torch_dtype=FLOAT32).eval().to(device)
        if getattr(unet.config, "addition_embed_type", None) != "text_time" or unet.config.in_channels != 4:
            raise UnsupportedFeature(f"{path.name}: not an SDXL base txt2img UNet (addition_embed_type text_time, "
                                     "4 input channels)")
        te2 = CLIPTextModelWithProjection.from_pretrained(str(path / "text_encoder_2"), local_files_only=True,
                                                          dtype=FLOAT32)
        return cls(
            unet=unet,
            vae=AutoencoderKL.from_pretrained(str(path / "vae"), local_files_only=True, torch_dtype=FLOAT32).eval().to(device),
            tokenizer=None if refiner else CLIPTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True),
            text_encoder=None if refiner else CLIPTextModel.from_pretrained(
                str(path / "text_encoder"), local_files_only=True, dtype=FLOAT32).eval().to(device),
            tokenizer_2=CLIPTokenizer.from_pretrained(str(path / "tokenizer_2"), local_files_only=True),
            text_encoder_2=te2.eval().to(device),
            beta_start=float(config.get("beta_start", 0.00085)), beta_end=float(config.get("beta_end", 0.012)),
            num_train_timesteps=int(config.get("num_train_timesteps", 1000)),
            beta_schedule=str(config.get("beta_schedule", "scaled_linear")),
            prediction_type=str(config.get("prediction_type", "epsilon")), device=device, name=name or path.name,
            family="sdxl-refiner" if refiner else "sdxl")


# -- text ------------------------------------------------------------------------------
def lora_keys_of(model: SdxlModel) -> set[str]:
    """The kohya keys the checkpoint's text encoders answer to, from parameter names only."""
    encoders = [(model.text_encoder_2, LORA_PREFIXES_REFINER_G if model.text_encoder is None else LORA_PREFIXES_G)]
    if model.text_encoder is not None:
        encoders.append((model.text_encoder, LORA_PREFIXES_L))
    keys: set[str] = set()
    for encoder, prefixes in encoders:
        inner = getattr(encoder, "text_model", encoder)
        keys |= set(ComfyClip.lora_targets_of((name for name, _ in inner.named_parameters()), prefixes))
    return keys


class SdxlClip:
    """SDXLClipModel + SDXLTokenizer: CLIP-L and CLIP-G side by side; for a refiner
    (SDXLRefinerClipModel) CLIP-G alone."""

    def __init__(self, model: SdxlModel, weight_dtype: torch.dtype = torch.float16):
        self.refiner = model.text_encoder is None
        self.l = None if self.refiner else ComfyClip(model.tokenizer, model.text_encoder, weight_dtype, SDXL_CLIP_L)
        self.g = ComfyClip(model.tokenizer_2, model.text_encoder_2, weight_dtype, SDXL_CLIP_G)

    def members(self) -> list[tuple[ComfyClip, tuple[str, ...]]]:
        """Each encoder with the kohya prefixes ComfyUI's model_lora_keys_clip gives it."""
        if self.refiner:
            return [(self.g, LORA_PREFIXES_REFINER_G)]
        return [(self.l, LORA_PREFIXES_L), (self.g, LORA_PREFIXES_G)]

    def lora_keys(self) -> set[str]:
        return {key for member, prefixes in self.members() for key in member.lora_targets(prefixes)}

    def tokenize(self, text: str) -> dict[str, TokenWeights]:
        if self.refiner:
            return {"g": self.g.tokenize(text)}
        return {"g": self.g.tokenize(text), "l": self.l.tokenize(text)}

    def tokenize_pair(self, text_g: str, text_l: str) -> dict[str, TokenWeights]:
        """CLIPTextEncodeSDXL's tokens: G from text_g, L from text_l, chunk counts evened
        with the empty prompt's chunk."""
        if self.refiner:
            # ComfyUI would tokenize text_l with its bundled CLIP-L vocabulary only to even the
            # chunk counts; the refiner checkpoint carries no CLIP-L to reproduce that with
            raise UnsupportedFeature("CLIPTextEncodeSDXL on an SDXL refiner's CLIP is not supported by this engine "
                                     "(use CLIPTextEncodeSDXLRefiner or CLIPTextEncode)")
        tokens = {"g": self.g.tokenize(text_g), "l": self.l.tokenize(text_l)}
        if len(tokens["l"]) != len(tokens["g"]):
            empty = self.tokenize("")
            while len(tokens["l"]) < len(tokens["g"]):
                tokens["l"] = tokens["l"] + empty["l"]
            while len(tokens["l"]) > len(tokens["g"]):
                tokens["g"] = tokens["g"] + empty["g"]
        return tokens

    def encode(self, tokens: dict[str, TokenWeights], layer_idx: int | None = None):
        """(cross-attention (1, 77k, width_l + width_g), pooled (1, projection width))."""
        g_out, g_pooled = self.g.encode(tokens["g"], layer_idx)
        if self.refiner:
            return g_out, g_pooled
        l_out, _ = self.l.encode(tokens["l"], layer_idx)
        cut = min(l_out.shape[1], g_out.shape[1])
        return torch.cat([l_out[:, :cut], g_out[:, :cut]], dim=-1), g_pooled

    def encode_text(self, text: str, layer_idx: int | None = None):
        return self.encode(self.tokenize(text), layer_idx)


# -- the y vector --------------------------------------------------------------------------
def timestep_embedding(value: float, dim: int, max_period: int = 10000) -> torch.Tensor:
    """ComfyUI's timestep_embedding of one number: [cos(args), sin(args)] (1, dim), float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = torch.Tensor([value])[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def size_conditioning(sizes: dict | None, latent_shape, refiner: bool = False,
                      prompt_type: str = "positive") -> dict[str, float]:
    """The numbers a conditioning carries into encode_adm, ComfyUI's defaults filled in."""
    sizes = dict(sizes or {})
    width = sizes.get("width", latent_shape[-1] * COMFY_LATENT_FACTOR)
    height = sizes.get("height", latent_shape[-2] * COMFY_LATENT_FACTOR)
    out = {"width": width, "height": height, "crop_w": sizes.get("crop_w", 0), "crop_h": sizes.get("crop_h", 0)}
    if refiner:
        out["aesthetic_score"] = sizes.get("aesthetic_score", REFINER_ASCORE[prompt_type])
    else:
        out.update(target_width=sizes.get("target_width", width), target_height=sizes.get("target_height", height))
    return out


def adm(pooled: torch.Tensor, sizes: dict[str, float], dim: int) -> torch.Tensor:
    """SDXL.encode_adm (batch, pooled width + 6 * dim), or SDXLRefiner.encode_adm (+ 5 * dim)
    when the sizes carry an aesthetic score."""
    if pooled is None:
        raise InvalidSyntax("an SDXL conditioning has no pooled output")
    keys = REFINER_KEYS if "aesthetic_score" in sizes else SIZE_KEYS
    parts = [timestep_embedding(float(sizes[k]), dim) for k in keys]
    flat = torch.flatten(torch.cat(parts)).unsqueeze(dim=0).repeat(pooled.shape[0], 1)
    return torch.cat((pooled.to(torch.float32), flat), dim=1)


def sdxl_unet_fn(unet):
    """(x, t, context, y) -> output of a diffusers "text_time" UNet fed ComfyUI's y: the whole
    vector goes in as text_embeds with zero-width time_ids, so diffusers' add_time_proj
    contributes nothing and add_embedding receives y unchanged."""

    def call(x, t, context, y):
        empty = y.new_zeros((y.shape[0], 0))
        return unet(x, t, encoder_hidden_states=context,
                    added_cond_kwargs={"text_embeds": y, "time_ids": empty}, return_dict=False)[0]

    return call
