"""A1111 v1.10's hires fix between the two passes, written here (processing.py's
StableDiffusionProcessingTxt2Img.calculate_target_resolution / sample_hr_pass,
images.resize_image, upscaler.Upscaler.upscale and its Lanczos/Nearest/None upscalers).

- Target size: "Hires upscale" scale -> int(width * scale) x int(height * scale); "Hires
  resize" W x H -> the side that keeps the first pass's aspect ratio, cropping the other
  (the crop in latent cells is `truncate_x/y`, taken half from each side, the odd cell at
  the end).
- Latent upscalers: torch.nn.functional.interpolate of the first pass's latents to
  (target_height // f, target_width // f), with the mode and antialias of A1111's
  `latent_upscale_modes` table.
- Pixel upscalers: the first pass is decoded to 8 bits, resized with PIL ("Lanczos",
  "Nearest": repeated `img.resize(int(w * scale), int(h * scale))` until the size is
  reached, at most three times, then a Lanczos resize to the multiple of 8 below and to the
  exact target; "None": one Lanczos resize), and encoded again.  Network upscalers
  (ESRGAN, R-ESRGAN, SwinIR, LDSR, DAT, ...) need their weights and code and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ....errors import InvalidSyntax, ModelUnavailable
from .... import limits

# A1111's shared.latent_upscale_modes: name -> (interpolate mode, antialias)
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
PIXEL_UPSCALERS = ("Lanczos", "Nearest", "None")
DEFAULT_UPSCALER = "Latent"  # A1111's latent_upscale_default_mode, used when none is named


@dataclass(frozen=True)
class Target:
    width: int       # hr_upscale_to_x
    height: int      # hr_upscale_to_y
    truncate_x: int  # latent cells cropped in total (hires resize with another aspect ratio)
    truncate_y: int


def target_resolution(width: int, height: int, scale: float, resize_x: int, resize_y: int,
                      factor: int = 8) -> Target:
    """The second pass's size as A1111 computes it (`factor` is its opt_f, the VAE's)."""
    if resize_x == 0 and resize_y == 0:
        to_x, to_y = int(width * scale), int(height * scale)
        truncate_x = truncate_y = 0
    elif resize_y == 0:
        to_x, to_y = resize_x, resize_x * height // width
        truncate_x = truncate_y = 0
    elif resize_x == 0:
        to_x, to_y = resize_y * width // height, resize_y
        truncate_x = truncate_y = 0
    else:
        if width / height < resize_x / resize_y:
            to_x, to_y = resize_x, resize_x * height // width
        else:
            to_x, to_y = resize_y * width // height, resize_y
        truncate_x, truncate_y = (to_x - resize_x) // factor, (to_y - resize_y) // factor
    if not (factor <= to_x <= limits.A1111_MAX_HIRES_SIDE and factor <= to_y <= limits.A1111_MAX_HIRES_SIDE):
        raise InvalidSyntax(f"hires fix target {to_x}x{to_y} is outside {factor}..{limits.A1111_MAX_HIRES_SIDE} pixels")
    return Target(to_x, to_y, truncate_x, truncate_y)


def is_latent(upscaler: str | None) -> bool:
    return (upscaler or DEFAULT_UPSCALER) in LATENT_MODES


def check_upscaler(upscaler: str | None) -> None:
    name = upscaler or DEFAULT_UPSCALER
    if name in LATENT_MODES or name in PIXEL_UPSCALERS:
        return
    raise ModelUnavailable(
        f"hires upscaler {name!r} is a network upscaler whose weights and code this engine does not have; "
        f"supported: {', '.join(list(LATENT_MODES) + list(PIXEL_UPSCALERS))}", upscaler=name)


def upscale_latents(samples: torch.Tensor, target: Target, upscaler: str | None, factor: int = 8) -> torch.Tensor:
    mode, antialias = LATENT_MODES[upscaler or DEFAULT_UPSCALER]
    return torch.nn.functional.interpolate(samples, size=(target.height // factor, target.width // factor),
                                           mode=mode, antialias=antialias)


def truncate(samples: torch.Tensor, target: Target) -> torch.Tensor:
    tx, ty = target.truncate_x, target.truncate_y
    return samples[:, :, ty // 2:samples.shape[2] - (ty + 1) // 2, tx // 2:samples.shape[3] - (tx + 1) // 2]


def _pil():
    from PIL import Image

    return Image, Image.Resampling.LANCZOS, Image.Resampling.NEAREST


def _upscaler_upscale(img, scale: float, resample):
    """upscaler.Upscaler.upscale for the PIL upscalers (Lanczos, Nearest)."""
    _, lanczos, _ = _pil()
    dest_w, dest_h = int((img.width * scale) // 8 * 8), int((img.height * scale) // 8 * 8)
    for i in range(3):
        if img.width >= dest_w and img.height >= dest_h and (i > 0 or scale != 1):
            break
        shape = (img.width, img.height)
        img = img.resize((int(img.width * scale), int(img.height * scale)), resample=resample)
        if shape == (img.width, img.height):
            break
    if img.width != dest_w or img.height != dest_h:
        img = img.resize((int(dest_w), int(dest_h)), resample=lanczos)
    return img


def resize_pixels(image: np.ndarray, width: int, height: int, upscaler: str) -> np.ndarray:
    """images.resize_image(0, im, width, height, upscaler_name) for the PIL upscalers."""
    Image, lanczos, nearest = _pil()
    im = Image.fromarray(image)
    if upscaler == "None":
        return np.array(im.resize((width, height), resample=lanczos))
    scale = max(width / im.width, height / im.height)
    if scale > 1.0:
        im = _upscaler_upscale(im, scale, lanczos if upscaler == "Lanczos" else nearest)
    if im.width != width or im.height != height:
        im = im.resize((width, height), resample=lanczos)
    return np.array(im)


def pixels_for_encode(images: list[np.ndarray], target: Target, upscaler: str) -> torch.Tensor:
    """8-bit first-pass images -> resized, float32 [0, 1], (B, 3, H, W), as A1111 feeds the VAE."""
    batch = []
    for image in images:
        resized = resize_pixels(image, target.width, target.height, upscaler)
        batch.append(np.moveaxis(resized.astype(np.float32) / 255.0, 2, 0))
    return torch.from_numpy(np.array(batch))
