"""Omni-ICM feature codec (codec ID 18): the bitstream decodes to features, not pixels.

model.py (torch: backbone, information filter, task head), preprocess.py (downscale and
feature grid), codec.py (bitstream, integer entropy coding), export.py (fp16 weights and
integer tables), zoo.py (the shipped weights and their sha256).

This module itself imports neither torch nor constriction, so list_codecs() stays cheap.
"""

from __future__ import annotations

import importlib.util

from ..base import OMNI_ICM, CodecInfo
from .zoo import WEIGHTS_FILE, weights_path

# "omni:Q": quantiser step STEP_64[Q] / 64 (exact binary fractions, so integer * step is
# exact in float32); a higher Q is a finer step, more bits, more task accuracy.
STEP_64 = {1: 128, 2: 96, 3: 64, 4: 48, 5: 32, 6: 24, 7: 16, 8: 12}
Q_RANGE = "1..8"
DEFAULT_Q = "5"


def step(q: int) -> float:
    return STEP_64[q] / 64


def _missing() -> str:
    for mod in ("torch", "constriction", "safetensors"):
        if importlib.util.find_spec(mod) is None:
            return f"the '{mod}' package is not installed (pip install \"aigif[codecs]\")"
    return ""


def info() -> CodecInfo:
    reason = _missing() or ("" if weights_path().is_file() else f"the Omni-ICM weights {WEIGHTS_FILE} are not installed")
    return CodecInfo(
        OMNI_ICM, "omni", False, [Q_RANGE],
        "Omni-ICM features for machine tasks (after Feng et al. ECCV 2022), CPU-scaled: decodes to a "
        f"feature array (aigif features), not pixels; Q {Q_RANGE} = quantiser step 2 .. 0.1875 (higher Q, more bits)",
        available=not reason, reason=reason, default_rate=DEFAULT_Q,
    )
