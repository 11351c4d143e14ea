"""The fidelity hash (spec §7.3): did the decoder reproduce the pixels exactly?

Method 1 hashes the canonical pixel array, not an image file, so PNG encoder settings
or metadata never change it:  SHA-256( u32be(width) u32be(height) RGB8 rows ).
The file keeps the first 8 bytes (2**-64 false-match rate) unless the writer asks for more.
"""

from __future__ import annotations

import hashlib

from .syntax import Fidelity

SHA256_RGB8 = 1
DEFAULT_DIGEST_BYTES = 8


def pixel_digest(image) -> bytes:
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    h = hashlib.sha256()
    h.update(rgb.width.to_bytes(4, "big"))
    h.update(rgb.height.to_bytes(4, "big"))
    h.update(rgb.tobytes())
    return h.digest()


def fidelity_of(image, nbytes: int = DEFAULT_DIGEST_BYTES) -> Fidelity:
    return Fidelity(SHA256_RGB8, pixel_digest(image)[:nbytes])


def matches(fidelity: Fidelity, image) -> bool:
    if fidelity.method != SHA256_RGB8:
        raise ValueError(f"unknown fidelity method {fidelity.method}")
    return pixel_digest(image)[: len(fidelity.digest)] == fidelity.digest
