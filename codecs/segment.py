"""The built-in group mask of codec 17 when the user gives none: a deterministic region split.

This is NOT a semantic segmentation (scikit-image is not a dependency here, and nothing is
downloaded): k-means over colour and position on the means of the image's BLOCK x BLOCK
squares, from a fixed grid of seeds, a fixed number of iterations, then a majority filter
so that the regions have smooth boundaries.

BLOCK is 64, NVTC's coarsest block (its config's block of 4 x 4 positions of the last
downscale, 16 px; a test keeps them equal): a region made of whole 64-px squares of the
image grid leaves no NVTC cell *and no vector-transform block* of any stage straddling two
groups (a group's box then starts on the grid too), so no transform mixes a group's
symbols with those of the ring that region coding's margin adds.  Measured on Kodak 1-12
(bench/groupmask.py --block 4 / 16 / 64, BENCHMARKS.md): structure cost +10.3 % (4 px) ->
+7.1 % (16 px, NVTC version 3) -> +4.83 % (16 px, NVTC version 4) -> +2.0 % (64 px, the
same encoder settings; +2.9 % with the band weight and fill groupmask.py gives groups of
whole blocks, which bring the band gap under 1 dB at Q 50-70).
An image too small for MIN_SQUARES squares per group at 64 px takes the largest of 32 and
16 px that has them (else 16).  The price is regions with 64-px steps; a user who needs
finer shapes gives a mask.

Same pixels in, same labels out, on any machine (integer features,
float32 distances whose ties break on the lower label; the labels are only the encoder's
choice - the decoder reads the mask from the bitstream and never runs this).

numpy only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ITERATIONS = 8
BLOCK = 64  # the default square (module docstring); 16 and 4 are the splits before it
SMALLER = (32, 16)  # the squares of an image too small for MIN_SQUARES per group at BLOCK
MIN_SQUARES = 4  # per group


def square_size(width: int, height: int, n_groups: int) -> int:
    """The built-in split's square: the largest of BLOCK, *SMALLER whose grid holds
    MIN_SQUARES per group, else the smallest."""
    for b in (BLOCK, *SMALLER):
        if -(-width // b) * -(-height // b) >= MIN_SQUARES * n_groups:
            return b
    return SMALLER[-1]
POSITION_WEIGHT = 1.5  # position (in squares, scaled to 0..255) against colour


def builtin_groups(image: Image.Image, n_groups: int, block: int | None = None) -> np.ndarray:
    """(H, W) uint8 labels 0..n-1 (every label present) of an RGB image, constant on the
    block x block squares of the image's grid (None: square_size's, on NVTC's coarsest
    blocks where the image is large enough; 16 and 4: the splits written before it)."""
    w, h = image.size
    if block is None:
        block = square_size(w, h, n_groups)
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
