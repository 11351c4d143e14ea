"""What the ComfyUI graph golden tests share (areas, model sampling, VAELoader): the tiny-sd
graph skeleton, the summaries a golden stores (tests/golden_summaries.py: sha256 + probes, as
graphs.json), the import -> unpack round trip, and the comparison with its tolerance: latent
probes and max |x| within 1e-4, pixels within +-1.  Under the suite's portable CPU numerics
(aigif/diffusion/portable.py) the results are bit-exact on any x86-64 machine; the tolerance is
a margin for a platform the profile does not pin (another torch release, another architecture).  Not a test module: the golden scripts in
tools/goldens/ import it too, with the graphs of the test modules."""

from __future__ import annotations

import math
from pathlib import Path

from golden_summaries import summarise_latent, summarise_pixels  # noqa: F401 (the tests and scripts take them from here)

REPO = Path(__file__).resolve().parents[1]
GOLDENS = REPO / "tests/goldens/comfyui"
TINY = REPO / "registry/embedded/tiny-sd"
COMFYUI_COMMIT = "637221995f7424a561bd825de3e61ea117dfe1e3"
CKPT = "tiny-sd.safetensors"
LATENT_TOL = 1e-4


def base_graph(positive: str, negative: str, width: int = 64, height: int = 64, ckpt: str = CKPT,
               clip=("1", 1)) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": list(clip), "text": positive}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": list(clip), "text": negative}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
    }


def decode_save(graph: dict, latent, vae=("1", 2)) -> dict:
    graph["8"] = {"class_type": "VAEDecode", "inputs": {"samples": list(latent), "vae": list(vae)}}
    graph["9"] = {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "golden"}}
    return graph


def latent_deviation(got: dict, want: dict) -> float:
    """0.0 when bit-identical, else the largest probe / max |x| difference."""
    assert got["shape"] == want["shape"]
    if got["sha256"] == want["sha256"]:
        return 0.0
    probes = max(abs(float.fromhex(a) - float.fromhex(b)) for a, b in zip(got["probes"], want["probes"]))
    return max(probes, abs(float.fromhex(got["max_abs"]) - float.fromhex(want["max_abs"])), 2 ** -149)


def pixel_deviation(got: dict, want: dict) -> int:
    assert got["shape"] == want["shape"]
    if got["sha256"] == want["sha256"]:
        return 0
    worst = max(abs(a - b) for a, b in zip(got["probes"], want["probes"]))
    assert abs(got["sum"] - want["sum"]) <= math.prod(got["shape"])
    return max(worst, 1)


def assert_matches(latents: list[dict], pixels: dict, want: dict) -> None:
    """A run's summaries against a golden record {"latents": [...], "pixels": {...}}."""
    for i, (got, expected) in enumerate(zip(latents, want["latents"], strict=True)):
        assert latent_deviation(got, expected) <= LATENT_TOL, i
    assert pixel_deviation(pixels, want["pixels"]) <= 1


def import_and_unpack(graph: dict, folder: Path, *unpack_args: str):
    """A PNG carrying `graph` as ComfyUI's `prompt` -> aigif import -> aigif unpack (one thread,
    the goldens' setting): the unpacked pixels as (1, H, W, 3) uint8, and the imported syntax."""
    import json

    import numpy as np
    from PIL import Image, PngImagePlugin

    import aigif
    from aigif.cli.main import main

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    png, packed, back = folder / "in.png", folder / "in.aigif", folder / "back.png"
    Image.new("RGB", (64, 64)).save(png, pnginfo=info)
    assert main(["import", str(png), "-o", str(packed)]) == 0
    assert main(["unpack", str(packed), "-o", str(back), "--threads", "1", *unpack_args]) == 0
    syntax = aigif.to_dict(aigif.decode(packed.read_bytes()))
    return np.ascontiguousarray(np.asarray(Image.open(back).convert("RGB")))[None], syntax


def exported_graph(syntax: dict) -> dict:
    """`aigif export --format comfyui` of an imported syntax: the API graph written back."""
    import aigif
    from aigif.exporters import to_comfyui

    return to_comfyui(aigif.from_dict(syntax))


def node_types(graph: dict) -> list[str]:
    return sorted(node["class_type"] for node in graph.values())
