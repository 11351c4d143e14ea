"""Prompt coders: text codec 2 (zstd + shipped dictionary), 3 (piece n-gram model), 5
(codec 3's model under adaptive in-text models) and 6 (codec 3's model with orders 5..8).

Normative description: spec/prompt-coder.md.  Importing this package is cheap: the
model tables and zstandard load on first use.
"""

from __future__ import annotations

MODEL_VERSION = 1  # bumps whenever a shipped data file changes: old payloads would not decode


def encode(text: str) -> bytes:
    """Text codec 3: code `text` with the shipped prompt model."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .codec3 import encode as _encode

    return _encode(text)


def decode(data: bytes, max_bytes: int) -> str:
    """Inverse of encode(); raises InvalidText when corrupt, LimitExceeded past max_bytes of UTF-8."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .codec3 import decode as _decode

    return _decode(data, max_bytes)


def adaptive_encode(text: str) -> bytes:
    """Text codec 5: the shipped prompt model under models that learn within the text."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .codec5 import encode as _encode

    return _encode(text)


def adaptive_decode(data: bytes, max_bytes: int) -> str:
    """Inverse of adaptive_encode(); InvalidText when corrupt, LimitExceeded past max_bytes of UTF-8."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .codec5 import decode as _decode

    return _decode(data, max_bytes)


def high_order_encode(text: str) -> bytes:
    """Text codec 6: the shipped prompt model extended with orders 5..8."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .codec6 import encode as _encode

    return _encode(text)


def high_order_decode(data: bytes, max_bytes: int) -> str:
    """Inverse of high_order_encode(); InvalidText when corrupt, LimitExceeded past max_bytes of UTF-8."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .codec6 import decode as _decode

    return _decode(data, max_bytes)


def zstd_dict_encode(text: str) -> bytes:
    """Text codec 2: zstd with the shipped prompt dictionary."""
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .zstddict import encode as _encode

    return _encode(text)


def zstd_dict_decode(data: bytes, max_bytes: int) -> str:
    # lazy: the model tables load on first use, so `import aigif` stays light
    from .zstddict import decode as _decode

    return _decode(data, max_bytes)


__all__ = ["MODEL_VERSION", "adaptive_decode", "adaptive_encode", "decode", "encode", "high_order_decode", "high_order_encode",
           "zstd_dict_decode", "zstd_dict_encode"]
