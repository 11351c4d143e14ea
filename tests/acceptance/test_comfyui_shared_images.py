"""Every real ComfyUI image of the shared set (issue 12): regenerable by the ComfyUI engine
given its weights, or refused naming what it uses (bench/comfyui_regenerable.py classifies;
BENCHMARKS.md has the table).

"Regenerable" is checked by running: the graph the import stores (or the plain graph of its
fields) is executed node by node with the embedded tiny model of each checkpoint's family in
place of the real weights, at 64x64 and at most 3 steps, so every node the file needs is
exercised for real; only the weights and the size are stand-ins.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from conftest import shared

pytest.importorskip("torch")
pytest.importorskip("diffusers")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

REGENERABLE = {"12_comfyui_basic.png", "14_comfyui_comfy_image_saver.png", "15_comfyui_saveimagewithmetadata.png",
               "26_stability_matrix.png", "36_comfyui_saveimage_plus.jpg", "42_comfyui_saveanimatedwebp.webp",
               "45_comfyui_sdxl_refiner.png"}
REFUSED = {"05_comfyui_img2img_cropped.png": ["LoadImage", "VAEEncode"],
           "13_comfyui_hires.png": ["UpscaleModelLoader", "ImageUpscaleWithModel"],
           "28_tensorart.png": ["ECHOCheckpointLoaderSimple"],
           "47_comfyui_sd35.png": ["EmptySD3LatentImage"],
           "48_comfyui_qwen_image.png": ["UNETLoader", "ModelSamplingAuraFlow"],
           "49_comfyui_wan_t2v_animated.webp": ["EmptyHunyuanLatentVideo", "ModelSamplingSD3"],
           "58_comfyui_workflow_only.png": ["SDParameterGenerator"]}
STAND_IN = {"sd1": "tiny-sd", "sdxl": "tiny-sdxl", "sdxl-refiner": "tiny-sdxl-refiner"}


def _syntax(name):
    import aigif
    from aigif.importers import import_image

    return aigif.from_dict(import_image(shared("aigc-images", name)).syntax)


def test_every_shared_comfyui_image_is_classified():
    from comfyui_regenerable import classify

    import aigif
    from aigif.importers import import_image

    data = shared("aigc-images")
    seen = set()
    for item in json.loads((data / "manifest.json").read_text())["files"]:
        try:
            syntax = aigif.from_dict(import_image(data / item["file"]).syntax)
        except aigif.AigifError:
            continue
        if (syntax.extensions.get("semantics") or {}).get("engine") != "comfyui":
            continue
        seen.add(item["file"])
        c = classify(syntax)
        if item["file"] in REGENERABLE:
            assert c["result"] == "regenerable", (item["file"], c)
        else:
            assert c["result"] == "refused", (item["file"], c)
            text = "; ".join(c["why"])
            for node_type in REFUSED[item["file"]]:
                assert node_type in text, (item["file"], text)
    assert seen == REGENERABLE | set(REFUSED)


@pytest.mark.parametrize("name", sorted(REGENERABLE))
def test_regenerable_shared_images_run_on_stand_in_weights(name):
    import torch

    from comfyui_regenerable import classify
    from aigif.diffusion.engines.comfyui import from_syntax
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph
    from aigif.registry import get_registry

    syntax = _syntax(name)
    families = {n: f for n, (f, _) in classify(syntax)["why"].items()}
    registry = get_registry()
    own = registry.find_model(syntax.model) if isinstance(syntax.model, int) else None
    own_family = own.family if own is not None else families[syntax.model]
    stand_in = copy.copy(syntax)
    stand_in.model = registry.find_model(STAND_IN[own_family]).id
    import aigif

    api = from_syntax.api_graph(aigif.resolve(stand_in))
    for node in api.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if "steps" in inputs:
            inputs["steps"] = min(inputs["steps"], 3)
        for key in ("end_at_step", "start_at_step"):
            if key in inputs and inputs[key] < 10000:
                inputs[key] = min(inputs[key], 2)

    def checkpoint(ckpt):
        entry = registry.find_model(ckpt) or registry.find_model(Path(ckpt).stem)
        family = entry.family if entry is not None else families.get(ckpt)
        return from_syntax.load_checkpoint(registry.find_model(STAND_IN[family]))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_graph(api, GraphResources(checkpoint=checkpoint))
    finally:
        torch.set_num_threads(threads)
    (pixels,) = result.images.values()
    assert pixels.shape == (1, 64, 64, 3)
    assert pixels.std() > 0
