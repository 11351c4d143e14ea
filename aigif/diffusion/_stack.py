"""The one place that imports torch / diffusers, so a missing extra is one clear error.

Nothing in aigif imports this at module level: `import aigif.diffusion` must work (and
stay cheap) on an install without the [generate] extra.
"""

from __future__ import annotations

from .._extras import require
from ..errors import InvalidSyntax, UnsupportedFeature
from ..syntax import DEVICES, DTYPES

# The platform vocabulary of spec §5.4 (aigif.syntax), less the names no run can ask for
TORCH_DTYPES = tuple(d for d in DTYPES if d != "unknown")
DEVICE_KINDS = tuple(d for d in DEVICES if d not in ("unknown", "other"))


def import_stack():
    """Return (torch, diffusers), or raise MissingExtra naming the pip command."""
    require("generate")  # torch, diffusers, transformers (every registry pipeline has CLIP text encoders)
    import diffusers
    import torch

    return torch, diffusers


def torch_dtype(torch, name: str):
    if name not in TORCH_DTYPES:
        raise InvalidSyntax(f"dtype {name!r} is not one of {', '.join(TORCH_DTYPES)}", dtype=name)
    return getattr(torch, name)


def device_kind(device: str) -> str:
    """'cuda:1' -> 'cuda'; anything unusual -> 'other' (the Platform vocabulary)."""
    kind = str(device).split(":", 1)[0].lower()
    return kind if kind in DEVICE_KINDS else "other"


def check_device(torch, device: str) -> None:
    kind = device_kind(device)
    available = {
        "cpu": lambda: True,
        "cuda": lambda: torch.cuda.is_available(),
        "mps": lambda: hasattr(torch.backends, "mps") and torch.backends.mps.is_available(),
        "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
    }.get(kind, lambda: False)
    if not available():
        raise UnsupportedFeature(f"device {device!r} is not available to this torch build", device=device)
