"""The tiny-sd sampler scene shared by the k-diffusion, A1111-timestep and ComfyUI golden tests
(tests/goldens/kdiffusion/README.md): the embedded tiny-sd at 64x64, fixed random conditioning,
fixed initial and per-step noise seeds, and the summaries (sha256 + probes) the goldens store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "registry/embedded/tiny-sd"

SCENE = {"width": 64, "height": 64, "latent_shape": [1, 4, 32, 32], "seed": 1234,
         "step_noise_seed": 5678, "cond_seed": 11, "uncond_seed": 12, "cond_shape": [1, 77, 32],
         "steps": 12, "cfg": [5.0, 7.0]}
SAMPLER_NAMES = ("Euler", "Euler a", "Heun", "DPM2", "DPM2 a", "DPM++ 2S a", "DPM++ 2M",
                 "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 3M SDE", "LMS", "LCM")
LATENT_PROBES = 64
PIXEL_PROBES = 64
LATENT_TOL = 1e-4


def load_tiny_sd():
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(TINY / "unet").eval()
    vae = AutoencoderKL.from_pretrained(TINY / "vae").eval()
    return unet, vae


def conditioning():
    """Fixed stand-ins for the prompt's and the empty negative prompt's CLIP embeddings
    (independent of the text encoder, so a transformers upgrade cannot move them)."""
    shape = SCENE["cond_shape"]
    cond = torch.randn(shape, generator=torch.Generator().manual_seed(SCENE["cond_seed"]))
    uncond = torch.randn(shape, generator=torch.Generator().manual_seed(SCENE["uncond_seed"]))
    return cond, uncond


def initial_noise():
    return torch.randn(SCENE["latent_shape"], generator=torch.Generator().manual_seed(SCENE["seed"]))


def to_pixels(latent, vae):
    """A1111's decode to 8 bits: clamp((x + 1) / 2, 0, 1) * 255, truncated by astype(uint8)."""
    import numpy as np

    image = vae.decode(latent / vae.config.scaling_factor, return_dict=False)[0]
    image = torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0)
    return (255.0 * np.moveaxis(image[0].cpu().numpy(), 0, 2)).astype(np.uint8)


def probe_indices(count, size):
    step = size // count
    return [i * step + (i % step) for i in range(count)]


def summarise(latent, vae):
    flat = latent.reshape(-1)
    pixels = to_pixels(latent, vae)
    pflat = pixels.reshape(-1)
    return {
        "latent_sha256": hashlib.sha256(latent.contiguous().numpy().tobytes()).hexdigest(),
        "latent_max_abs": float(flat.abs().max()).hex(),
        "latent_sum": float(flat.double().sum()).hex(),
        "latent_probes": [float(flat[i]).hex() for i in probe_indices(LATENT_PROBES, flat.numel())],
        "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
        "pixels_sum": int(pflat.astype("int64").sum()),
        "pixel_probes": [int(pflat[i]) for i in probe_indices(PIXEL_PROBES, pflat.size)],
    }


def compare(record, latent, summary):
    """(bit_exact, max latent deviation on the probes, max pixel deviation on the probes)."""
    flat = latent.reshape(-1)
    probes = [float.fromhex(h) for h in record["latent_probes"]]
    ours = [float(flat[i]) for i in probe_indices(LATENT_PROBES, flat.numel())]
    dev = max(abs(a - b) for a, b in zip(probes, ours))
    dev = max(dev, abs(float.fromhex(record["latent_max_abs"]) - float(flat.abs().max())))
    pdev = max(abs(a - b) for a, b in zip(record["pixel_probes"], summary["pixel_probes"]))
    exact = summary["latent_sha256"] == record["latent_sha256"] and summary["pixels_sha256"] == record["pixels_sha256"]
    return exact, dev, pdev
