"""How golden tensors and images are summarised in the golden JSON files (shared by the
golden scripts in tools/goldens/ and the tests that compare with them): sha256 of the
float32 bytes, plus probes at fixed positions and the max |x| so a near miss can be
measured against a tolerance."""

from __future__ import annotations

import hashlib

PROBES = 64


def _probe_indices(count, size):
    step = max(1, size // count)
    return [min(size - 1, i * step + (i % step)) for i in range(count)]


def summarise_latent(latent):
    flat = latent.reshape(-1).float()
    return {"shape": list(latent.shape),
            "sha256": hashlib.sha256(latent.contiguous().float().numpy().tobytes()).hexdigest(),
            "max_abs": float(flat.abs().max()).hex(),
            "probes": [float(flat[i]).hex() for i in _probe_indices(PROBES, flat.numel())]}


def summarise_pixels(pixels):
    flat = pixels.reshape(-1)
    return {"shape": list(pixels.shape), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
            "sum": int(flat.astype("int64").sum()), "probes": [int(flat[i]) for i in _probe_indices(PROBES, flat.size)]}


