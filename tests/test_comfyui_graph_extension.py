"""Extension 19 comfyui_graph (spec §7.1.2): the reduced graph's coding, the importer's
choice between the plain graph (fields alone) and the reduced graph, and the exporter's
graph having the original's sampling chain."""

from __future__ import annotations

import copy

import msgpack
import pytest

import aigif
from aigif import comfyui_graph
from aigif.errors import AigifError
from aigif.exporters.comfyui import to_comfyui
from aigif.importers import import_image

from conftest import shared
from samples import comfyui_png

PROMPT = "a lighthouse on a cliff at dawn, volumetric light, highly detailed"


def txt2img(sampler="euler", scheduler="normal", clip_layer=None, lora=None) -> dict:
    clip = ["4", 1]
    model = ["4", 0]
    g = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd.safetensors"}}}
    if lora:
        g["20"] = {"class_type": "LoraLoader", "inputs": {"lora_name": "fixture.safetensors", "strength_model": 0.8,
                                                          "strength_clip": 0.8, "model": model, "clip": clip}}
        model, clip = ["20", 0], ["20", 1]
    if clip_layer is not None:
        g["10"] = {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": clip_layer, "clip": clip}}
        clip = ["10", 0]
    g.update({
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": clip}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, lowres", "clip": clip}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 123456789, "steps": 8, "cfg": 7.5, "sampler_name": sampler,
                                                   "scheduler": scheduler, "denoise": 1.0, "model": model,
                                                   "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    })
    return g


def hires() -> dict:
    g = txt2img("dpmpp_2m", "karras")
    g["30"] = {"class_type": "LatentUpscaleBy", "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]}}
    g["31"] = {"class_type": "KSampler", "inputs": {**g["3"]["inputs"], "steps": 5, "denoise": 0.5, "sampler_name": "euler",
                                                    "scheduler": "simple", "latent_image": ["30", 0]}}
    g["8"]["inputs"]["samples"] = ["31", 0]
    return g


def advanced_two_pass() -> dict:
    g = txt2img()
    base = g["3"]["inputs"]
    g["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": base["seed"], "steps": 10, "cfg": 7.5, "sampler_name": "euler_ancestral",
        "scheduler": "karras", "start_at_step": 0, "end_at_step": 6, "return_with_leftover_noise": "enable",
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}}
    g["32"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **g["3"]["inputs"], "add_noise": "disable", "noise_seed": 0, "start_at_step": 6, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "latent_image": ["3", 0]}}
    g["8"]["inputs"]["samples"] = ["32", 0]
    return g


def imported(graph: dict) -> dict:
    return import_image(comfyui_png(graph)).syntax


def chain(api: dict) -> list[dict]:
    """What ComfyUI computes: the reduced graph with no references, checkpoint file names
    aside (the exporter names the model by the file's registry name)."""
    out = comfyui_graph.reduce(api, comfyui_graph.output_of(api), {})
    for node in out:
        node.get("inputs", {}).pop("ckpt_name", None)
    return out


def roundtrip(graph: dict) -> tuple[dict, dict]:
    s = imported(graph)
    again = aigif.to_dict(aigif.decode(aigif.encode(aigif.from_dict(s))))
    return s, to_comfyui(again)


# -- the importer's choice -------------------------------------------------------------------------
@pytest.mark.parametrize("clip_layer", [None, -1, -2])
def test_plain_txt2img_is_carried_by_the_fields_alone(clip_layer):
    g = txt2img(clip_layer=clip_layer)
    s, exported = roundtrip(g)
    ext = s["extensions"]
    assert ext["semantics"] == {"engine": "comfyui"}
    assert "comfyui_graph" not in ext
    assert ext.get("clip_skip") == (None if clip_layer is None else -clip_layer)
    assert chain(exported) == chain(g)


def test_plain_txt2img_with_a_lora_chain():
    g = txt2img(lora=True)
    s, exported = roundtrip(g)
    assert "comfyui_graph" not in s["extensions"]
    assert s["extensions"]["lora"] == [{"name": "fixture", "weight": 0.8}]
    assert chain(exported) == chain(g)


@pytest.mark.parametrize("build", [hires, advanced_two_pass])
def test_other_graphs_keep_the_reduced_graph_and_export_the_same_chain(build):
    g = build()
    s, exported = roundtrip(g)
    assert "comfyui_graph" in s["extensions"]
    assert chain(exported) == chain(g)
    assert comfyui_graph.unsupported(s["extensions"]["comfyui_graph"]) == []


def test_a_schedule_the_scheduler_id_does_not_name_keeps_the_graph():
    # euler|sgm_uniform and euler|simple share one scheduler ID: simple is not the ID's pair
    s, exported = roundtrip(txt2img("euler", "simple"))
    assert "comfyui_graph" in s["extensions"]
    assert exported[next(k for k, n in exported.items() if n["class_type"] == "KSampler")]["inputs"]["scheduler"] == "simple"


def test_the_prompt_is_stored_once():
    s = imported(hires())
    data = aigif.encode(aigif.from_dict(s))
    graph = s["extensions"]["comfyui_graph"]
    assert ["prompt"] in [n["inputs"].get("text") for n in graph]
    payload = msgpack.packb(comfyui_graph.to_msgpack(graph))
    assert PROMPT.encode() not in payload and b"blurry" not in payload
    assert len(payload) < 200, len(payload)  # 9 nodes: numbers, references, 5 sampler strings, 3 doubles
    assert aigif.to_dict(aigif.decode(data))["extensions"]["comfyui_graph"] == graph


def test_untabled_nodes_are_kept_by_name_and_the_export_refuses_naming_them():
    g = txt2img()
    g["50"] = {"class_type": "FaceDetailer", "inputs": {"image": ["8", 0], "model": ["4", 0], "guide_size": 384}}
    g["60"] = {"class_type": "UltraSharpen", "inputs": {"image": ["50", 0]}}
    g["9"]["inputs"]["images"] = ["60", 0]
    s = imported(g)
    graph = s["extensions"]["comfyui_graph"]
    assert comfyui_graph.unsupported(graph) == ["FaceDetailer", "UltraSharpen"]
    assert "guide_size" not in repr(graph)  # literals of untabled nodes are not kept
    assert graph[-1] == {"type": "UltraSharpen", "links": [[len(graph) - 2, 0]]}


# -- the coding ----------------------------------------------------------------------------------------
def test_json_and_msgpack_forms_round_trip():
    graph = imported(hires())["extensions"]["comfyui_graph"]
    flat = comfyui_graph.to_msgpack(graph)
    assert all(isinstance(node[0], int) for node in flat)
    assert comfyui_graph.from_msgpack(flat) == graph


@pytest.mark.parametrize("mutate", [
    lambda f: f.append(["KSampler"]),                     # a tabled type by name
    lambda f: f[-1].extend([1, 2]),                       # input numbers not ascending
    lambda f: f.insert(0, [8, 1, 64, 2, 64, 3, 1]),       # a node the walk does not reach
    lambda f: f[-1].__setitem__(2, [len(f), 0]),          # a link to itself
    lambda f: f[-1].__setitem__(2, [99]),                 # an unknown field reference
])
def test_non_canonical_or_malformed_graphs_are_rejected(mutate):
    flat = comfyui_graph.to_msgpack(imported(hires())["extensions"]["comfyui_graph"])
    bad = copy.deepcopy(flat)
    mutate(bad)
    assert comfyui_graph.from_msgpack(bad) is None


def test_json_form_normalises_integral_floats_and_rejects_bad_links():
    s = aigif.from_dict({"prompt": "x", "extensions": {"comfyui_graph": [
        {"type": "EmptyLatentImage", "inputs": {"width": 64.0, "height": 64, "batch_size": 1}}]}})
    assert s.extensions["comfyui_graph"][0]["inputs"]["width"] == 64
    assert isinstance(s.extensions["comfyui_graph"][0]["inputs"]["width"], int)
    with pytest.raises(AigifError):
        aigif.from_dict({"prompt": "x", "extensions": {"comfyui_graph": [
            {"type": "VAEDecode", "inputs": {"samples": [3, 0]}}]}})


def test_reduce_is_bounded_on_a_long_chain_and_refuses_cycles():
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}}}
    for i in range(2, 5000):
        g[str(i)] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": [str(i - 1), 0], "lora_name": "l", "strength_model": 1}}
    reduced = comfyui_graph.reduce(g, "4999", {})
    assert len(reduced) == 4999 and comfyui_graph.problem(reduced) is None
    g["1"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["3", 0]}}
    with pytest.raises(ValueError, match="cycle"):
        comfyui_graph.reduce(g, "4999", {})


# -- real images ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["12_comfyui_basic.png", "45_comfyui_sdxl_refiner.png"])
def test_shared_comfyui_images_export_their_sampling_chain(name):
    import json

    path = shared("aigc-images", name)
    from PIL import Image

    original = json.loads(Image.open(path).info["prompt"])
    s = import_image(path).syntax
    again = aigif.to_dict(aigif.decode(aigif.encode(aigif.from_dict(s))))
    exported = to_comfyui(again, strict=False)
    assert chain(exported) == chain(original)


def test_shared_hires_with_an_upscale_model_keeps_its_untabled_nodes_by_name():
    s = import_image(shared("aigc-images", "13_comfyui_hires.png")).syntax
    assert {"VAEEncode", "ImageUpscaleWithModel"} <= set(comfyui_graph.unsupported(s["extensions"]["comfyui_graph"]))
    exported = to_comfyui(s)  # rebuilt from the walk's hires reading, as before extension 19
    assert sum(n["class_type"] == "KSampler" for n in exported.values()) == 2
