"""The shipped Omni-ICM weights: file in aigif_codecs/weights and its sha256.

A decoder refuses weights whose sha256 differs: a bitstream decodes only with the exact
integer tables it was coded with (spec/codecs.md section 7).
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
WEIGHTS_FILE = "omni-1.safetensors"
WEIGHTS_SHA256 = "efa252e6a470e9405bdd310e5ca7d56f1108562bcdefa6c2c96f656ca87a2491"


def weights_path() -> Path:
    return WEIGHTS_DIR / WEIGHTS_FILE
