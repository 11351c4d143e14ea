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
