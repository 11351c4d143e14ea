"""The shipped NVTC weights: rate point -> (file in aigif_codecs/weights, sha256).

A decoder refuses weights whose sha256 differs: a bitstream is only decodable with the
exact integer tables it was coded with (spec/codecs.md).
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

WEIGHTS: dict[int, tuple[str, str]] = {
}


def weights_path(rate: int) -> Path:
    return WEIGHTS_DIR / WEIGHTS[rate][0]
