"""What the Omni-ICM encoder does to pixels before the network, and the feature grid it gives.

The features serve machine tasks that look at an image as a whole (retrieval, classification),
so the encoder first downscales the image to at most MAX_SIDE pixels on its longer side:
rate then stays bounded whatever the photo's resolution.  The grid rule is integer
arithmetic, so a decoder derives the feature shape from the header's W and H alone
(spec/codecs.md section 7).  numpy and Pillow only: no torch here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MAX_SIDE = 256
STRIDE = 16


def working_size(width: int, height: int) -> tuple[int, int]:
    """The size the network sees: (W, H) scaled so the longer side is MAX_SIDE, rounded to
    nearest (halves up), at least 1; images already within MAX_SIDE are kept as they are."""
    m = max(width, height)
    if m <= MAX_SIDE:
        return width, height
    return max(1, (width * MAX_SIDE + m // 2) // m), max(1, (height * MAX_SIDE + m // 2) // m)


def feature_grid(width: int, height: int) -> tuple[int, int]:
    """(rows, cols) of the coded feature map of a W x H image."""
    w, h = working_size(width, height)
    return -(-h // STRIDE), -(-w // STRIDE)


def pooled_grid(width: int, height: int, grid: int) -> tuple[int, int]:
    """(rows, cols) of a version-2 payload's features: the feature grid averaged over at most
    grid x grid cells (an image with fewer locations on a side keeps them)."""
    return _cells(*feature_grid(width, height), grid)


def _cells(rows: int, cols: int, grid: int) -> tuple[int, int]:
    return min(grid, rows), min(grid, cols)


def pool(y: np.ndarray, grid: int) -> np.ndarray:
    """Features (C, rows, cols) averaged over the cells of pooled_grid: cell i of n along a side
    spans locations floor(i * n / g) .. ceil((i + 1) * n / g) - 1 (adaptive average pooling;
    neighbouring cells share a location where g does not divide n).  Encoder side only."""
    C, rows, cols = y.shape
    g_r, g_c = _cells(rows, cols, grid)
    out = np.empty((C, g_r, g_c), np.float32)
    for i in range(g_r):
        r0, r1 = i * rows // g_r, -(-(i + 1) * rows // g_r)
        for j in range(g_c):
            c0, c1 = j * cols // g_c, -(-(j + 1) * cols // g_c)
            out[:, i, j] = y[:, r0:r1, c0:c1].astype(np.float64).mean(axis=(1, 2))
    return out


def network_input(image: Image.Image) -> np.ndarray:
    """RGB float32 (3, rows*16, cols*16) in [0, 1]: downscaled (Lanczos), then padded on the
    right and bottom by edge replication to whole stride cells."""
    rgb = image.convert("RGB")
    w, h = working_size(*rgb.size)
    if (w, h) != rgb.size:
        rgb = rgb.resize((w, h), Image.LANCZOS)
    a = np.asarray(rgb, dtype=np.float32) / 255.0
    rows, cols = feature_grid(*image.size)
    a = np.pad(a, ((0, rows * STRIDE - h), (0, cols * STRIDE - w), (0, 0)), mode="edge")
    return np.ascontiguousarray(a.transpose(2, 0, 1))
