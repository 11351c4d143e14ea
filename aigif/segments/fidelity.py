"""The FIDELITY segment body (spec §7.3): method u8 + a digest of 1 to 32 bytes.

How the digest is computed from pixels: `aigif/fidelity.py`.
"""

from __future__ import annotations

from ..container import FIDELITY, max_body_length
from ..errors import MalformedField
from ..syntax import Fidelity


def encode_fidelity(f: Fidelity) -> bytes:
    return bytes([f.method]) + f.digest


def decode_fidelity(body: bytes) -> Fidelity:
    longest = max_body_length(FIDELITY)  # method byte + 32-byte digest
    if len(body) < 2 or len(body) > longest:
        raise MalformedField(f"FIDELITY digest must be 1 to {longest - 1} bytes")
    return Fidelity(body[0], bytes(body[1:]))
