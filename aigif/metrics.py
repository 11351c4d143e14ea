"""Fidelity metrics between a regenerated image and a reference: PSNR, and LPIPS when
its weights are on this machine (they are never downloaded: spec rule, no network)."""

from __future__ import annotations

import math
from pathlib import Path

from ._extras import missing


def _arrays(a, b):
    import numpy as np

    a = np.asarray(a.convert("RGB"), dtype=np.float64)
    b = np.asarray(b.convert("RGB"), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    return a, b


def psnr(a, b) -> float:
    """PSNR in dB over RGB, 8-bit peak; inf for identical images."""
    x, y = _arrays(a, b)
    mse = float(((x - y) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def differing_fraction(a, b) -> float:
    x, y = _arrays(a, b)
    return float((x != y).any(axis=-1).mean())


_ALEXNET = "alexnet-owt-7be5be79.pth"
_lpips_model = None


def lpips_status() -> tuple[bool, str]:
    """(available, reason): LPIPS needs the lpips package and torchvision's AlexNet weights
    already in the torch hub cache."""
    error = missing("metrics")
    if error is not None:
        return False, str(error)
    import torch

    cached = Path(torch.hub.get_dir()) / "checkpoints" / _ALEXNET
    if not cached.is_file():
        return False, f"AlexNet backbone weights not found at {cached}; AIGIF never downloads them"
    return True, "ok"


def lpips_distance(a, b) -> tuple[float | None, str]:
    ok, why = lpips_status()
    if not ok:
        return None, why
    global _lpips_model
    import numpy as np
    import torch
    import lpips

    if _lpips_model is None:
        _lpips_model = lpips.LPIPS(net="alex", verbose=False).eval()
    x, y = _arrays(a, b)
    tx = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 127.5 - 1
    ty = torch.from_numpy(y).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        return float(_lpips_model(tx, ty).item()), "ok"
