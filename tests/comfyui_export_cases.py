"""The graphs whose `aigif export --format comfyui` output ComfyUI's own validate_prompt
judged (tests/goldens/comfyui/validation.json, tools/goldens/comfyui_validate.py): each
golden engine graph, and each regenerable shared ComfyUI image, imported from a PNG the way
a user's file is, then exported.  Shared by the golden script and the test."""

from __future__ import annotations

import importlib
import io
import json
import sys
from pathlib import Path

# the engine graphs are defined beside their golden tests
ENGINE_TESTS = Path(__file__).parent / "diffusion/engines/comfyui"

ENGINE_GRAPH_MODULES = ("test_comfyui_graph", "test_comfyui_sdxl")
SHARED_CASES = ("12_comfyui_basic.png", "14_comfyui_comfy_image_saver.png", "15_comfyui_saveimagewithmetadata.png",
                "26_stability_matrix.png", "36_comfyui_saveimage_plus.jpg", "42_comfyui_saveanimatedwebp.webp",
                "45_comfyui_sdxl_refiner.png")


def png_with_graph(graph: dict) -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 150)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def export_of(path: Path) -> dict:
    import aigif
    from aigif.exporters import to_comfyui
    from aigif.importers import import_image

    syntax = aigif.decode(aigif.encode(aigif.from_dict(import_image(path).syntax)))
    return to_comfyui(syntax)


def engine_graphs() -> dict[str, dict]:
    if str(ENGINE_TESTS) not in sys.path:
        sys.path.insert(0, str(ENGINE_TESTS))
    out = {}
    for module_name in ENGINE_GRAPH_MODULES:
        module = importlib.import_module(module_name)
        for name, graph in module.GRAPHS.items():
            out[f"{module_name.removeprefix('test_')}/{name}"] = graph
    return out


def exported_graphs(shared: Path | None, tmp: Path | None = None) -> dict[str, dict]:
    import tempfile

    tmp = tmp or Path(tempfile.mkdtemp(prefix="aigif-export-cases-"))
    out = {}
    for name, graph in engine_graphs().items():
        png = tmp / (name.replace("/", "_") + ".png")
        png.write_bytes(png_with_graph(graph))
        out[name] = export_of(png)
    if shared is not None:
        for name in SHARED_CASES:
            if (shared / name).exists():
                out[f"shared/{name}"] = export_of(shared / name)
    return out
