"""The built-in group mask of codec 17 when the user gives none: a deterministic region split.

This is NOT a semantic segmentation (scikit-image is not a dependency here, and nothing is
downloaded): k-means over colour and position on a 1/4-scale copy, from a fixed grid of
seeds, a fixed number of iterations, then a 5x5 majority filter so that the regions have
smooth boundaries.  Same pixels in, same labels out, on any machine (integer features,
float32 distances whose ties break on the lower label; the labels are only the encoder's
choice - the decoder reads the mask from the bitstream and never runs this).

numpy only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ITERATIONS = 8
POSITION_WEIGHT = 1.5  # position (in 1/4-scale pixels, scaled to 0..255) against colour


def builtin_groups(image: Image.Image, n_groups: int) -> np.ndarray:
    """(H, W) uint8 labels 0..n-1 (every label present) of an RGB image."""
    w, h = image.size
    sw, sh = max(1, w // 4), max(1, h // 4)
    small = np.asarray(image.convert("RGB").resize((sw, sh), Image.Resampling.BOX), np.float32)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    scale = 255.0 / max(sw, sh)
    feats = np.concatenate([small.reshape(-1, 3), POSITION_WEIGHT * scale * np.stack([yy, xx], -1).reshape(-1, 2)], 1)
    n = min(n_groups, feats.shape[0])
    # seeds on a grid: rows x cols as square as the image allows
    rows = max(1, int(round(np.sqrt(n * sh / sw))))
    cols = -(-n // rows)
    seeds = [(int((r + 0.5) * sh / rows), int((c + 0.5) * sw / cols)) for r in range(rows) for c in range(cols)][:n]
    centres = np.stack([feats[y * sw + x] for y, x in seeds])
    for _ in range(ITERATIONS):
        d = ((feats[:, None, :] - centres[None]) ** 2).sum(-1)
        lab = d.argmin(1)
        for k in range(n):
            sel = lab == k
            if sel.any():
                centres[k] = feats[sel].mean(0)
    lab = lab.reshape(sh, sw)
    lab = _majority(lab, n, 2)
    full = np.asarray(Image.fromarray(lab.astype(np.uint8)).resize((w, h), Image.Resampling.NEAREST))
    # renumber 0..m-1 in order of first appearance, so that every label is present
    _, first = np.unique(full.reshape(-1), return_index=True)
    order = np.argsort(first)
    present = np.unique(full.reshape(-1))[order]
    remap = np.zeros(256, np.uint8)
    remap[present] = np.arange(len(present), dtype=np.uint8)
    return remap[full]


def _majority(lab: np.ndarray, n: int, radius: int) -> np.ndarray:
    """Each pixel takes the most frequent label of its (2r+1)^2 window (ties: lower label)."""
    h, w = lab.shape
    onehot = (lab[None] == np.arange(n)[:, None, None]).astype(np.int32)
    pad = np.pad(onehot, ((0, 0), (radius + 1, radius), (radius + 1, radius)))
    ii = pad.cumsum(1).cumsum(2)
    k = 2 * radius + 1
    votes = ii[:, k:k + h, k:k + w] - ii[:, :h, k:k + w] - ii[:, k:k + h, :w] + ii[:, :h, :w]
    return votes.argmax(0)
