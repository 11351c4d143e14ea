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


# "nvtc:Q" codes at ECVQ lambda 2**((Q + 10) / 10) with the model tuned over the band that
# holds Q: model 4 over lambda 32..256 (Q 40..70), model 5 over 256..2048 (Q 70..100)
# (tools/tune_nvtc.py; BENCHMARKS.md, NVTC tuning).  Models 1-3 (one lambda each) are kept
# so that their files decode; nvtc:1..3 still name them.
Q_BANDS = ((10, 69, 4), (70, 100, 5))  # (first Q, last Q, model)
Q_RANGE = "10..100"
MAX_DROP = 3  # "nvtc:Q/D": the last D layers (stage 0's, the finest) are not coded


def info() -> CodecInfo:
    models = [str(r) for r in sorted(WEIGHTS) if weights_path(r).is_file()]
    reason = _missing() or ("" if models else "no NVTC weights are installed in aigif_codecs/weights")
    bands = all(str(m) in models for *_, m in Q_BANDS)
    rates = models + ([Q_RANGE, f"{Q_RANGE}/0..{MAX_DROP}"] if bands else [])
    return CodecInfo(
        NVTC, "nvtc", False, rates,
        "NVTC learned vector-quantisation codec (Feng et al. CVPR 2023), CPU-scaled; RATE = model 1..5 at its own "
        f"lambda (4, 5: tuned over a band; 1-3: the first fine-tunes), or Q {Q_RANGE} (ECVQ lambda 2**((Q+10)/10); "
        "model 4 for Q<70, else 5), "
        "optionally /D = finest layers left "
        f"uncoded (0..{MAX_DROP}, faster decode, lower rate and quality)",
        available=not reason, reason=reason, default_rate="5" if "5" in models else (models[0] if models else None),
    )


def parse_rate(rate: str) -> dict:
    """A rate string the codec info accepted -> encode() keywords: '2' -> model 2 at its own
    lambda; '80' -> Q 80 on the model of its band; '80/1' -> the same, one layer left uncoded."""
    q, _, drop = rate.partition("/")
    value = int(q)
    lo = int(Q_RANGE.split("..")[0])
    if value < lo:
        return {"model": value}
    model = next(m for lo_q, hi_q, m in Q_BANDS if lo_q <= value <= hi_q)
    return {"model": model, "q": value, "drop": int(drop or 0)}
