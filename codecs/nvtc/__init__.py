"""NVTC learned codec (codec ID 16): model.py (torch), export.py (integer tables),
codec.py (bitstream + range coder), zoo.py (shipped weights and their sha256).

This module itself imports neither torch nor constriction, so list_codecs() stays cheap.
"""

from __future__ import annotations

import importlib.util

from ..base import NVTC, CodecInfo
from .zoo import WEIGHTS, weights_path


def _missing() -> str:
    for mod in ("torch", "constriction", "safetensors"):
        if importlib.util.find_spec(mod) is None:
            return f"the '{mod}' package is not installed (pip install \"aigif[codecs]\")"
    return ""


def info() -> CodecInfo:
    rates = [str(r) for r in sorted(WEIGHTS) if weights_path(r).is_file()]
    reason = _missing() or ("" if rates else "no NVTC weights are installed in aigif_codecs/weights")
    return CodecInfo(
        NVTC, "nvtc", False, rates,
        "NVTC learned vector-quantisation codec (Feng et al. CVPR 2023), CPU-scaled; RATE = model 1 (low) .. 3 (high)",
        available=not reason, reason=reason, default_rate="2" if "2" in rates else (rates[0] if rates else None),
    )
