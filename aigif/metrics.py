"""Fidelity metrics between a regenerated image and a reference: PSNR, and LPIPS when
its weights are on this machine (they are never downloaded: spec rule, no network)."""

from __future__ import annotations

import importlib.util
import math
import os
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
# how to put the backbone where lpips looks (torchvision's download, 233 MB, run once by the user)
FETCH_ALEXNET = 'python -c "import torchvision; torchvision.models.alexnet(weights=\'IMAGENET1K_V1\')"'
_lpips_model = None


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch (its documented rule: $TORCH_HOME/hub,
    else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub"


def lpips_status() -> tuple[bool, str]:
    """(available, reason): LPIPS needs the lpips package and torchvision's AlexNet weights
    already in the torch hub cache.  Both are checked without importing torch or lpips:
    importing them only to say "unavailable" cost an unpack of a pixels file seconds."""
    if importlib.util.find_spec("lpips") is None or importlib.util.find_spec("torch") is None:
        return False, 'the lpips package is not installed: pip install "aigif[metrics]"'
    cached = torch_hub_dir() / "checkpoints" / _ALEXNET
    if not cached.is_file():
        return False, (f"its AlexNet weights are not at {cached}; AIGIF never downloads them. "
                       f"To install them (233 MB, needs network once): {FETCH_ALEXNET}")
    error = missing("metrics")
    if error is not None:
        return False, str(error)
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
