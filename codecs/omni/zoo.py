"""The shipped Omni-ICM weights: file in aigif_codecs/weights and its sha256.

A decoder refuses weights whose sha256 differs: a bitstream decodes only with the exact
integer tables it was coded with (spec/codecs.md section 7).
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
WEIGHTS_FILE = "omni-1.safetensors"
WEIGHTS_SHA256 = "1e33a13d840cc2ca8456c85dc4a11221acdb1a8ba0d387531ae1ebe704761a6c"

# the coding tables of the pooled grids (bitstream version 2), measured on the network of
# WEIGHTS_FILE (whose sha256 their metadata names): tools/train_omni.py grid-tables
GRIDS_FILE = "omni-1-grids.safetensors"
GRIDS_SHA256 = "8cdf28be21a486d04758bb448b6fa66f884ff24d706a99d82e9b3e152998d8a4"


def weights_path() -> Path:
    return WEIGHTS_DIR / WEIGHTS_FILE


def grids_path() -> Path:
    return WEIGHTS_DIR / GRIDS_FILE
