"""The built-in group mask of codec 17 when the user gives none: a deterministic region split.

This is NOT a semantic segmentation (scikit-image is not a dependency here, and nothing is
downloaded): k-means over colour and position on the means of the image's BLOCK x BLOCK
squares, from a fixed grid of seeds, a fixed number of iterations, then a majority filter
so that the regions have smooth boundaries.

BLOCK is 16, NVTC's coarsest cell (the last of its config's downscales; a test keeps them
equal): a region made of whole 16-px squares of the image grid leaves no NVTC cell of any
stage straddling two groups (a group's box then starts on the grid too), so only the one
ring of cells that region coding's margin adds is coded twice.  Measured on Kodak 1-12
(bench/groupmask.py --block 4 / 16, BENCHMARKS.md): structure cost +10.3 % -> +7.1 %
BD-rate, worst group read - area +21.2 -> +14.1 points, band gap 1.06 / 1.50 / 2.09 ->
0.81 / 1.26 / 1.67 dB.  The price is regions with 16-px steps; a user who needs finer
shapes gives a mask.

Same pixels in, same labels out, on any machine (integer features,
float32 distances whose ties break on the lower label; the labels are only the encoder's
choice - the decoder reads the mask from the bitstream and never runs this).

numpy only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ITERATIONS = 8
BLOCK = 16  # the default square (module docstring); 4 is the split before it
POSITION_WEIGHT = 1.5  # position (in squares, scaled to 0..255) against colour


def builtin_groups(image: Image.Image, n_groups: int, block: int = BLOCK) -> np.ndarray:
    """(H, W) uint8 labels 0..n-1 (every label present) of an RGB image, constant on the
    block x block squares of the image's grid (16: on NVTC's coarsest cells, the default;
    4: the split written before it, the same labels wherever the size is a multiple of 4)."""
    w, h = image.size
    sw, sh = max(1, -(-w // block)), max(1, -(-h // block))
    rgb = image.convert("RGB")
    if (sw * block, sh * block) != (w, h):  # edge-extend to whole blocks, so every square is the image's own
        a = np.asarray(rgb)
        rgb = Image.fromarray(np.pad(a, ((0, sh * block - h), (0, sw * block - w), (0, 0)), mode="edge"))
    small = np.asarray(rgb.resize((sw, sh), Image.Resampling.BOX), np.float32)
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
    lab = _majority(lab, n, 2 if block <= 4 else 1)
    full = lab.astype(np.uint8).repeat(block, 0).repeat(block, 1)[:h, :w]
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
