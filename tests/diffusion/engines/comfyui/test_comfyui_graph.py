"""The ComfyUI graph engine (aigif.diffusion.engines.comfyui.graph) against goldens made by
running ComfyUI's own nodes on the same API graphs with the embedded tiny-sd
(tests/goldens/comfyui/graphs.json; tools/goldens/comfyui_graphs.py, README "graphs.json").

The graphs live here; the golden script imports them.  Tolerance: the final latents'
probes and max |x| within 1e-4 and pixels within +-1 (float32 reductions in the UNet may
round differently on a platform the suite's portable CPU numerics do not pin); under
that profile they are bit-exact on any x86-64 machine, which the test reports.  Refusals: unknown node types (all named), bad links, cycles, limits.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
from aigif import limits  # noqa: E402
from comfyui_goldens import CKPT, COMFYUI_COMMIT, base_graph, decode_save, summarise_latent, summarise_pixels  # noqa: F401 (the golden script uses them)

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[4]
GOLDENS = Path(__file__).parents[3] / "goldens/comfyui"
TINY = REPO / "registry/embedded/tiny-sd"
LORA = Path(__file__).parents[3] / "fixtures/lora/comfyui-tiny.safetensors"
LORA_NAME = "comfyui-tiny.safetensors"


def _base(positive: str, negative: str, clip=("1", 1)):
    return base_graph(positive, negative, clip=clip)


def txt2img():
    g = _base("a photo of a (red fox:1.2) in the snow, detailed", "blurry, lowres")
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 42, "steps": 12, "cfg": 7.0, "sampler_name": "dpmpp_2m", "scheduler": "karras",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


def hires():
    g = _base("((a castle)) on a hill, [sunset], (dramatic sky:0.8)", "", clip=("10", 0))
    g["10"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["1", 1], "stop_at_clip_layer": -2}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 1234, "steps": 10, "cfg": 6.5, "sampler_name": "euler_ancestral",
        "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    g["6"] = {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["5", 0], "upscale_method": "bilinear",
                                                          "scale_by": 2.0}}
    g["7"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 1235, "steps": 10, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["6", 0], "denoise": 0.5}}
    return decode_save(g, ("7", 0))


def lora():
    g = _base("a portrait of a knight", "ugly", clip=("10", 1))
    g["10"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": LORA_NAME,
                                                      "strength_model": 0.8, "strength_clip": 0.6}}
    g["11"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["10", 1], "text": "(shining armor:1.3)"}}
    g["12"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["11", 0]}}
    g["5"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["10", 0], "add_noise": "enable", "noise_seed": 7, "steps": 10, "cfg": 7.0,
        "sampler_name": "euler", "scheduler": "normal", "positive": ["12", 0], "negative": ["3", 0],
        "latent_image": ["4", 0], "start_at_step": 0, "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    return decode_save(g, ("5", 0))


def custom_advanced():
    long_prompt = ", ".join(["a lighthouse by the sea at night"] * 12)
    g = _base(long_prompt, "text, watermark")
    g["13"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "(stars:1.1)"}}
    g["14"] = {"class_type": "ConditioningConcat", "inputs": {"conditioning_to": ["2", 0], "conditioning_from": ["13", 0]}}
    g["10"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["1", 0], "lora_name": LORA_NAME,
                                                               "strength_model": -0.5}}
    g["15"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 2 ** 40 + 3}}
    g["16"] = {"class_type": "CFGGuider", "inputs": {"model": ["10", 0], "positive": ["14", 0], "negative": ["3", 0],
                                                     "cfg": 5.5}}
    g["17"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m_sde"}}
    g["18"] = {"class_type": "BasicScheduler", "inputs": {"model": ["10", 0], "scheduler": "karras", "steps": 10,
                                                          "denoise": 1.0}}
    g["5"] = {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["15", 0], "guider": ["16", 0],
                                                               "sampler": ["17", 0], "sigmas": ["18", 0],
                                                               "latent_image": ["4", 0]}}
    return decode_save(g, ("5", 0))


def custom_cfg1():
    g = _base("a bowl of fruit", "unused negative")
    g["17"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
    g["18"] = {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "simple", "steps": 8,
                                                          "denoise": 1.0}}
    g["5"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ["1", 0], "add_noise": True, "noise_seed": 99, "cfg": 1.0, "positive": ["2", 0],
        "negative": ["3", 0], "sampler": ["17", 0], "sigmas": ["18", 0], "latent_image": ["4", 0]}}
    return decode_save(g, ("5", 0))


GRAPHS = {"txt2img": txt2img(), "hires": hires(), "lora": lora(), "custom_advanced": custom_advanced(),
          "custom_cfg1": custom_cfg1()}
# the latents recorded per graph: (node id, output index)
LATENT_OUTPUTS = {"txt2img": [("5", 0)], "hires": [("5", 0), ("6", 0), ("7", 0)], "lora": [("5", 0)],
                  "custom_advanced": [("5", 0), ("5", 1)], "custom_cfg1": [("5", 0), ("5", 1)]}
@pytest.fixture(scope="module")
def resources():
    from aigif.diffusion.engines.a1111.engine import A1111Model
    from aigif.diffusion.engines.comfyui.graph import GraphResources

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = A1111Model.from_pretrained(TINY, name="tiny-sd")
    yield GraphResources(checkpoint=lambda name: model if name == CKPT else None,
                         lora=lambda name: LORA if name == LORA_NAME else None)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def golden():
    data = json.loads((GOLDENS / "graphs.json").read_text())
    assert data["comfyui_commit"] == COMFYUI_COMMIT
    return data


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_against_comfyui(name, golden, resources):
    import numpy as np

    from aigif.diffusion.engines.comfyui.graph import run_graph

    want = golden["graphs"][name]
    assert want["graph"] == GRAPHS[name]
    result = run_graph(copy.deepcopy(GRAPHS[name]), resources)
    for (node, index), expected in zip(LATENT_OUTPUTS[name], want["latents"]):
        got = summarise_latent(result.latent(node, index))
        assert got["shape"] == expected["shape"], (name, node, index)
        if got["sha256"] != expected["sha256"]:
            worst = max(abs(float.fromhex(a) - float.fromhex(b)) for a, b in zip(got["probes"], expected["probes"]))
            assert worst <= 1e-4, (name, node, index, worst)
            assert abs(float.fromhex(got["max_abs"]) - float.fromhex(expected["max_abs"])) <= 1e-4
    (pixels,) = result.images.values()
    got = summarise_pixels(pixels)
    assert got["shape"] == want["pixels"]["shape"]
    if got["sha256"] != want["pixels"]["sha256"]:
        diff = np.abs(np.array(got["probes"], dtype=int) - np.array(want["pixels"]["probes"], dtype=int)).max()
        assert diff <= 1, (name, diff)
        assert abs(got["sum"] - want["pixels"]["sum"]) <= pixels.size, name


def test_lora_changes_the_image(golden):
    """The LoRA graph's fixture is live: ComfyUI's output with it differs from the same graph without."""
    assert golden["graphs"]["lora"]["pixels"]["sha256"] != golden["lora_check"]["without_lora_pixels_sha256"]


def test_refusals_name_every_unsupported_node_type(resources):
    from aigif.diffusion.engines.comfyui.graph import run_graph
    from aigif.errors import UnsupportedFeature

    graph = copy.deepcopy(GRAPHS["txt2img"])
    graph["20"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {"positive": ["2", 0]}}
    graph["21"] = {"class_type": "UpscaleModelLoader", "inputs": {}}
    graph["22"] = {"class_type": "ImageSharpen", "inputs": {"image": ["1", 0]}}
    graph["23"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {}}
    with pytest.raises(UnsupportedFeature) as err:
        run_graph(graph, resources)
    message = str(err.value)
    for name in ("ControlNetApplyAdvanced", "UpscaleModelLoader", "ImageSharpen"):
        assert name in message
    assert err.value.details["node_types"] == ["ControlNetApplyAdvanced", "ImageSharpen", "UpscaleModelLoader"]


def test_refusals_of_bad_graphs(resources):
    from aigif.diffusion.engines.comfyui import graph as G
    from aigif.errors import InvalidSyntax, LimitExceeded, ModelUnavailable, UnsupportedFeature

    def broken(change):
        g = copy.deepcopy(GRAPHS["txt2img"])
        change(g)
        return g

    cases = [
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("positive", ["77", 0]))),   # missing node
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("positive", ["2", 3]))),    # missing output
        (InvalidSyntax, broken(lambda g: g["2"]["inputs"].__setitem__("clip", ["5", 0]))),        # a cycle via KSampler
        (InvalidSyntax, broken(lambda g: g["3"]["inputs"].__setitem__("clip", ["4", 0]))),        # a LATENT as CLIP
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("steps", 0))),
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("cfg", float("nan")))),
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("sampler_name", "dpm_fast"))),
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("seed", -1))),
        (InvalidSyntax, broken(lambda g: g["5"]["inputs"].__setitem__("steps", True))),
        (InvalidSyntax, broken(lambda g: g.pop("9"))),                                             # no output
        (InvalidSyntax, broken(lambda g: g["1"].pop("class_type"))),
        (InvalidSyntax, {}),
        (InvalidSyntax, []),
        (ModelUnavailable, broken(lambda g: g["1"]["inputs"].__setitem__("ckpt_name", "other.safetensors"))),
        (LimitExceeded, broken(lambda g: g["4"]["inputs"].update(width=16384, height=16384, batch_size=64))),
        (UnsupportedFeature, broken(lambda g: g["2"]["inputs"].__setitem__("text", "embedding:bad, a cat"))),
    ]
    for error, graph in cases:
        with pytest.raises(error):
            G.run_graph(graph, resources)
    cycle = broken(lambda g: g.update({
        "30": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["31", 0], "conditioning_2": ["2", 0]}},
        "31": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["30", 0], "conditioning_2": ["2", 0]}}}))
    cycle["5"]["inputs"]["positive"] = ["30", 0]
    with pytest.raises(InvalidSyntax, match="cycle"):
        G.plan(cycle)
    chain = copy.deepcopy(GRAPHS["txt2img"])
    previous = "2"
    for i in range(limits.COMFYUI_MAX_DEPTH + 5):
        chain[f"c{i}"] = {"class_type": "ConditioningCombine",
                          "inputs": {"conditioning_1": [previous, 0], "conditioning_2": ["2", 0]}}
        previous = f"c{i}"
    chain["5"]["inputs"]["positive"] = [previous, 0]
    with pytest.raises(LimitExceeded):
        G.plan(chain)
    big = {str(i): {"class_type": "EmptyLatentImage", "inputs": {}} for i in range(limits.COMFYUI_MAX_NODES + 1)}
    with pytest.raises(LimitExceeded):
        G.plan(big)
    upscale = copy.deepcopy(GRAPHS["hires"])
    upscale["6"]["inputs"]["upscale_method"] = "bislerp"
    with pytest.raises(UnsupportedFeature, match="bislerp"):
        G.run_graph(upscale, resources)


def test_guided_denoiser_matches_single_cond_core(resources):
    """With one positive and one negative entry the general cond batching is the core's
    cfg_denoiser bit for bit (the KSampler goldens of samplers.json pin that one)."""
    from aigif.diffusion.engines.comfyui.graph import CondEntry, guided_denoiser
    from aigif.diffusion.engines.comfyui.guidance import ComfyModel, cfg_denoiser
    from aigif.diffusion.engines.comfyui.model_sampling import ModelSamplingDiscrete
    from aigif.diffusion.kdiffusion.model import diffusers_unet_fn

    model = ComfyModel(diffusers_unet_fn(resources.checkpoint(CKPT).unet), ModelSamplingDiscrete())
    g = torch.Generator().manual_seed(3)
    pos, neg = torch.randn(1, 77, 32, generator=g), torch.randn(1, 77, 32, generator=g)
    x, sigma = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([3.0, 3.0])
    with torch.no_grad():
        general = guided_denoiser(model, [CondEntry(pos, None)], [CondEntry(neg, None)], 6.0)(x, sigma)
        core = cfg_denoiser(model, pos.repeat(2, 1, 1), neg.repeat(2, 1, 1), 6.0)(x, sigma)
    assert torch.equal(general, core)


def test_lora_strengths_apply_to_their_own_model(golden, resources):
    """strength_clip reaches the text encoder: with it at 0 the engine leaves ComfyUI's result."""
    from aigif.diffusion.engines.comfyui.graph import run_graph

    graph = copy.deepcopy(GRAPHS["lora"])
    graph["10"]["inputs"]["strength_clip"] = 0.0
    result = run_graph(graph, resources)
    assert summarise_latent(result.latent("5"))["sha256"] != golden["graphs"]["lora"]["latents"][0]["sha256"]


def test_lora_fixture_is_the_one_the_goldens_used(golden):
    assert LORA.stat().st_size == golden["lora_fixture"]["bytes"] < 100_000
    assert hashlib.sha256(LORA.read_bytes()).hexdigest() == golden["lora_fixture"]["sha256"]
