"""The shipped NVTC weights: rate point -> (file in aigif_codecs/weights, sha256).

A decoder refuses weights whose sha256 differs: a bitstream is only decodable with the
exact integer tables it was coded with (spec/codecs.md).
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

WEIGHTS: dict[int, tuple[str, str]] = {
    1: ("nvtc-1.safetensors", "a855b799a301a816a6822a88833d7b283e521807733cf8561c551d68cd05515e"),
    2: ("nvtc-2.safetensors", "0af86b32f6e8104ab2cfdba4284b26b0b438273e6b41fe3335fb28a489201540"),
    3: ("nvtc-3.safetensors", "545270491acd4b95ccb9a39805fdf85544614d102b8aab801272aeace8a7bda4"),
    # 4, 5: tuned from 1 and 2 over a band of lambdas each (tools/tune_nvtc.py); 1-3 stay for their files
    4: ("nvtc-4.safetensors", "345a99ab13991dfcd2447604861616840db66113d96c7a2d84d89b4f423d056c"),
    5: ("nvtc-5.safetensors", "e9f9c925293fe2009ca436bcdbe842e5c2becca9c4542ed0c7510191f9661983"),
}

# bitstream version 4: per-block-position static tables of the keyed layers, measured on the
# training images with the weights of that rate point (tools/nvtc_position_tables.py); a rate
# point without one writes version 3
POSITIONS: dict[int, tuple[str, str]] = {
    4: ("nvtc-4-pos.safetensors", "4fedc59aa1f335b78f1494737d4cc5e40a57b2f44c9505ecf768dd002c3d279d"),
    5: ("nvtc-5-pos.safetensors", "e226a6acf1d3fbfa7509b09ae185652b488ce6bf545ee435438569e75c34c85f"),
}


def weights_path(rate: int) -> Path:
    return WEIGHTS_DIR / WEIGHTS[rate][0]


def positions_path(rate: int) -> Path:
    return WEIGHTS_DIR / POSITIONS[rate][0]
