"""Freeze a trained Omni-ICM into shippable weights: fp16 network + integer coding tables.

As for NVTC (nvtc/export.py), every number the entropy decoder depends on is computed
here once, as integers:

  tables.freq   int32 (Q, C, K): per quality Q (1..8, row Q-1) and channel c the
                frequencies of the symbols s = clamp(round(y / step_Q), -A, A) + A,
                K = 2A + 1, each >= 1, each row summing to 2**16.  They are the
                histograms of the training images' features at that step (plus a
                smoothing count), not the training-time Laplace model: what the
                features really do, measured once.

  tables.freq.grid  (in the grids file, for bitstream version 2) uint16 (G, Q, C, K):
                the same histograms of the features averaged over a g x g grid
                (preprocess.pool), g = 1..G: averaging narrows the distribution, so the
                full grid's tables would overpay.  Measured on the shipped fp16 network.

The SimCLR projector and the Laplace rate parameters are training-only and not shipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..learned_weights import write_weights
from . import GRID_MAX, STEP_64
from .model import OmniICM
from .preprocess import STRIDE, pool

FREQ_BITS = 16
ALPHABET_HALF = 63  # A: symbols -63..63
FORMAT = "aigif-omni"
FORMAT_VERSION = "1"
GRIDS_FORMAT = "aigif-omni-grids"
TRAINING_ONLY = ("projector", "log_scale", "loc")
SMOOTHING = 0.5  # counts added to every symbol of every row before normalising


def quantize_pmf(p: np.ndarray, total: int = 1 << FREQ_BITS) -> np.ndarray:
    """Float pmf rows -> int32 frequencies >= 1 summing exactly to total (largest absorbs the rest)."""
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    k = p.shape[-1]
    flat = (np.floor(p * (total - k)).astype(np.int64) + 1).reshape(-1, k)
    deficit = total - flat.sum(axis=-1)
    flat[np.arange(flat.shape[0]), flat.argmax(axis=-1)] += deficit
    assert (flat >= 1).all() and (flat.sum(-1) == total).all()
    return flat.reshape(p.shape).astype(np.int32)


@torch.no_grad()
def features_of(model: OmniICM, img: np.ndarray) -> np.ndarray:
    """(C, rows, cols) float features of one uint8 HxWx3 image already at working size."""
    h, w = img.shape[:2]
    rows, cols = -(-h // STRIDE), -(-w // STRIDE)
    a = np.pad(img.astype(np.float32) / 255.0, ((0, rows * STRIDE - h), (0, cols * STRIDE - w), (0, 0)), mode="edge")
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    return model.analysis(x)[0].numpy()


def coding_tables(model: OmniICM, imgs: list[np.ndarray]) -> np.ndarray:
    return feature_tables([features_of(model, im) for im in imgs], model.cfg.channels)


def feature_tables(feats: list[np.ndarray], C: int) -> np.ndarray:
    """int32 (Q, C, K): per quality and channel, the smoothed histogram of the features' symbols."""
    A = ALPHABET_HALF
    out = np.empty((len(STEP_64), C, 2 * A + 1), np.int32)
    for qi, q in enumerate(sorted(STEP_64)):
        step = STEP_64[q] / 64
        counts = np.zeros((C, 2 * A + 1), np.float64)
        for f in feats:
            sym = np.clip(np.rint(f / step), -A, A).astype(np.int64) + A
            for c in range(C):
                counts[c] += np.bincount(sym[c].ravel(), minlength=2 * A + 1)
        out[qi] = quantize_pmf(counts + SMOOTHING)
    return out


def export_weights(model: OmniICM, imgs: list[np.ndarray], path: Path, *, train_info: dict) -> str:
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
               if k.split(".")[0] not in TRAINING_ONLY}
    # the tables are measured on the fp16 network the decoder side will load
    shipped = OmniICM(model.cfg)
    shipped.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    shipped.eval()
    tensors["tables.freq"] = torch.from_numpy(coding_tables(shipped, imgs))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(model.cfg.to_dict()),
            "freq_bits": str(FREQ_BITS), "alphabet_half": str(ALPHABET_HALF),
            "steps_64": json.dumps([STEP_64[q] for q in sorted(STEP_64)]), "train": json.dumps(train_info)}
    return write_weights(path, tensors, meta)


def grid_tables(model: OmniICM, imgs: list[np.ndarray]) -> np.ndarray:
    """uint16 (GRID_MAX, Q, C, K): coding_tables of the features pooled to g x g, g = 1..GRID_MAX."""
    feats = [features_of(model, im) for im in imgs]
    out = [feature_tables([pool(f, g) for f in feats], model.cfg.channels) for g in range(1, GRID_MAX + 1)]
    return np.stack(out).astype(np.uint16)  # every entry is 1..2**16 - K + 1


def export_grid_tables(model: OmniICM, weights_sha256: str, imgs: list[np.ndarray], path: Path) -> str:
    """The grids file of the shipped network (model: as the decoder side loads it)."""
    tensors = {"tables.freq.grid": torch.from_numpy(grid_tables(model, imgs))}
    meta = {"format": GRIDS_FORMAT, "format_version": "1", "weights_sha256": weights_sha256,
            "freq_bits": str(FREQ_BITS), "alphabet_half": str(ALPHABET_HALF), "grid_max": str(GRID_MAX),
            "images": str(len(imgs))}
    return write_weights(path, tensors, meta)
