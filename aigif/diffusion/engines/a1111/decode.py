"""Latents to 8-bit pixels and back, with A1111 v1.10's arithmetic (processing.py,
sd_samplers_common.py and the LDM first-stage calls it makes).

- NaN check: as A1111's default, the first element of the latents and of each decoded
  image is tested and a NaN stops the generation (NaNOutput).
- Decode: one image at a time (`decode_latent_batch` slices batch[i:i + 1]); the latent
  is scaled by the Python float 1 / scale_factor *multiplied* in (LDM's
  `decode_first_stage`: `z = 1. / self.scale_factor * z`), which rounds differently from
  dividing by the factor.
- To 8 bits: stack as float32, clamp((x + 1) / 2, 0, 1), then per image
  `255. * moveaxis(x, 0, 2)` in NumPy (float32) and `astype(np.uint8)`: truncation, not
  rounding.
- Encode (the pixel-upscale hires path): pixels in [0, 1] -> x * 2 - 1 -> the VAE
  encoder, one image at a time when there are several, times scale_factor.  A1111 takes
  a *sample* of the encoder's posterior with the unseeded global torch RNG; that draw is
  not recorded anywhere, so it cannot be reproduced.  This engine uses the posterior mean
  and says so (`ENCODE_NOTE`).
"""

from __future__ import annotations

import numpy as np
import torch

from ....errors import ModelError

ENCODE_NOTE = ("VAE encode uses the posterior mean; A1111 samples the posterior with its unseeded "
               "global RNG (std is small but not zero), so pixel-upscale hires fix can differ slightly")


class NaNOutput(ModelError):
    """A1111 stops here: its NaN check (devices.test_for_nans, on by default) found NaN."""

    code = "E_MODEL_NAN"


def check_nans(x: torch.Tensor, where: str) -> None:
    """devices.test_for_nans: A1111 looks at the first element only, and raises."""
    if torch.isnan(x[(0,) * len(x.shape)]):
        raise NaNOutput(f"A tensor with NaNs was produced in the {where} (A1111 refuses to make this image "
                        "unless started with --disable-nan-check)", where=where)


def latent_factor(vae) -> int:
    """Pixels per latent cell: 2 per down block after the first (8 for SD's VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


@torch.no_grad()
def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) latents -> (B, 3, H, W) float32 in about [-1, 1], one image at a time."""
    scale = float(vae.config.scaling_factor)
    dtype = next(vae.parameters()).dtype
    check_nans(latents, "UNet")
    samples = []
    for i in range(latents.shape[0]):
        z = latents[i:i + 1].to(dtype)
        z = 1.0 / scale * z
        sample = vae.decode(z, return_dict=False)[0][0]
        check_nans(sample, "VAE")
        samples.append(sample.to("cpu"))
    return torch.stack(samples).float()


def to_uint8(decoded: torch.Tensor) -> list[np.ndarray]:
    """A1111's last step: clamp((x + 1) / 2), 255 * x in float32, truncated to uint8."""
    x = torch.clamp((decoded + 1.0) / 2.0, min=0.0, max=1.0)
    return [(255. * np.moveaxis(sample.cpu().numpy(), 0, 2)).astype(np.uint8) for sample in x]


@torch.no_grad()
def encode_images(vae, images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float32 pixels in [0, 1] -> latents (see ENCODE_NOTE)."""
    scale = float(vae.config.scaling_factor)
    dtype = next(vae.parameters()).dtype
    device = next(vae.parameters()).device
    image = images.to(device, dtype=dtype) * 2 - 1

    def encode(batch):
        return scale * vae.encode(batch, return_dict=False)[0].mode()

    if len(image) > 1:
        return torch.stack([encode(torch.unsqueeze(img, 0))[0] for img in image])
    return encode(image)
