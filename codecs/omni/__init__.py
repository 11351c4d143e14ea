"""Omni-ICM feature codec (codec ID 18): the bitstream decodes to features, not pixels.

model.py (torch: backbone, information filter, task head), preprocess.py (downscale and
feature grid), codec.py (bitstream, integer entropy coding), export.py (fp16 weights and
integer tables), zoo.py (the shipped weights and their sha256).

This module itself imports neither torch nor constriction, so list_codecs() stays cheap.
"""

from __future__ import annotations

import importlib.util

from ..base import OMNI_ICM, CodecInfo
from .zoo import grids_path, weights_path

# "omni:Q": quantiser step STEP_64[Q] / 64 (exact binary fractions, so integer * step is
# exact in float32); a higher Q is a finer step, more bits, more task accuracy.
STEP_64 = {1: 128, 2: 96, 3: 64, 4: 48, 5: 32, 6: 24, 7: 16, 8: 12}
Q_RANGE = "1..8"
DEFAULT_Q = "5"
# "omni:Q/G": the features averaged over a G x G grid before they are quantised (bitstream
# version 2): a few hundred bits per image for tasks that need only the coarse layout
# (orientation, scene type); without /G every stride-16 location is coded (version 1)
GRID_MAX = 4
GRID_RANGE = f"1..{GRID_MAX}"


def step(q: int) -> float:
    return STEP_64[q] / 64


def _missing() -> str:
    for mod in ("torch", "constriction", "safetensors"):
        if importlib.util.find_spec(mod) is None:
            return f"the '{mod}' package is not installed (pip install \"aigif[codecs]\")"
    return ""


def info() -> CodecInfo:
    reason = _missing() or next((f"the Omni-ICM weights {p.name} are not installed"
                                 for p in (weights_path(), grids_path()) if not p.is_file()), "")
    return CodecInfo(
        OMNI_ICM, "omni", False, [Q_RANGE, f"{Q_RANGE}/{GRID_RANGE}"],
        "Omni-ICM features for machine tasks (after Feng et al. ECCV 2022), CPU-scaled: decodes to a "
        f"feature array (aigif features), not pixels; Q {Q_RANGE} = quantiser step 2 .. 0.1875 (higher Q, more bits); "
        f"optionally /G = features averaged over a G x G grid ({GRID_RANGE}), a few hundred bits per image",
        available=not reason, reason=reason, default_rate=DEFAULT_Q,
    )
