"""SDXL in the ComfyUI engine (aigif.diffusion.engines.comfyui.sdxl and the SDXL paths of
graph.py) against goldens made by running ComfyUI's own SDXL code on the embedded
tiny-sdxl (tests/goldens/comfyui/sdxl.json; tools/goldens/comfyui_sdxl.py, README "sdxl.json").

ComfyUI's own code computes: SDXLTokenizer / SDXLClipModel (both encoders, CLIP-G's 0
padding and projected pooled output, the penultimate-layer default and CLIPSetLastLayer),
CLIPTextEncodeSDXL (text_g / text_l, chunk evening, sizes), SDXL.encode_adm (the y vector
and its size defaults from the latent) and the whole KSampler(Advanced) path; the UNet is
tiny-sdxl's diffusers UNet fed ComfyUI's y.  The cases live here; the golden script
imports them.  Same tolerance rule as test_comfyui_graph.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from comfyui_goldens import COMFYUI_COMMIT, assert_matches, base_graph, decode_save, summarise_latent, summarise_pixels

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[4]
GOLDENS = Path(__file__).parents[3] / "goldens/comfyui"
TINY_XL = REPO / "registry/embedded/tiny-sdxl"
TINY_REFINER = REPO / "registry/embedded/tiny-sdxl-refiner"
REFINER = "tiny-sdxl-refiner.safetensors"
LORA = Path(__file__).parents[3] / "fixtures/lora/comfyui-tiny-sdxl.safetensors"
LORA_NAME = "comfyui-tiny-sdxl.safetensors"
# the fixture's UNet modules, by their LDM/SGM names (what SDXL kohya LoRAs use), and its
# text-encoder layers (te1 = CLIP-L, te2 = CLIP-G)
LORA_UNET_SGM = ("input_blocks.1.0.in_layers.2", "input_blocks.3.1.proj_in",
                 "input_blocks.3.1.transformer_blocks.0.attn1.to_q", "input_blocks.3.1.transformer_blocks.0.attn2.to_k",
                 "middle_block.1.transformer_blocks.0.attn1.to_out.0", "output_blocks.0.1.transformer_blocks.0.ff.net.2",
                 "output_blocks.1.1.transformer_blocks.0.attn2.to_v")
LORA_TE = (("lora_te1_", "encoder.layers.0.self_attn.q_proj"), ("lora_te2_", "encoder.layers.1.self_attn.out_proj"),
           ("lora_te2_", "encoder.layers.2.mlp.fc1"))
CKPT = "tiny-sdxl.safetensors"
SECOND = "tiny-sdxl-second.safetensors"  # a second checkpoint loader (the refiner's place), same weights

LONG = ", ".join(["a red fox in the snow at dawn, highly detailed fur"] * 9)
# (name, node inputs): CLIPTextEncode {"text"} or CLIPTextEncodeSDXL {...}, optional clip skip
TEXT_CASES = [
    ("empty", {"text": ""}, None),
    ("plain", {"text": "a red fox in the snow"}, None),
    ("weighted", {"text": "(masterpiece:1.2), a (red:0.8) fox, [blue] sky, ((sharp))"}, None),
    ("long", {"text": LONG}, None),
    ("skip1", {"text": "a (red:1.1) fox"}, -1),
    ("skip3", {"text": "a (red:1.1) fox"}, -3),
    ("skip24", {"text": "a (red:1.1) fox"}, -24),
    ("sdxl_pair", {"width": 1024, "height": 768, "crop_w": 0, "crop_h": 32, "target_width": 1024,
                   "target_height": 768, "text_g": "a (red fox:1.3) in the snow", "text_l": "photo, sharp"}, None),
    ("sdxl_uneven", {"width": 64, "height": 64, "crop_w": 0, "crop_h": 0, "target_width": 64, "target_height": 64,
                     "text_g": "a fox", "text_l": LONG}, -2),
    ("sdxl_uneven_g", {"width": 64, "height": 64, "crop_w": 0, "crop_h": 0, "target_width": 64,
                       "target_height": 64, "text_g": LONG, "text_l": "a fox"}, None),
]


def _base(positive, negative, clip=("1", 1)):
    return base_graph(positive, negative, ckpt=CKPT, clip=clip)


def txt2img():
    g = _base("a photo of a (red fox:1.2) in the snow, detailed", "blurry, lowres")
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 42, "steps": 10, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


def sdxl_encode():
    """CLIPTextEncodeSDXL with sizes, clip skip, an ancestral sampler on karras."""
    g = _base("unused", "lowres, bad anatomy", clip=("10", 0))
    g["10"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["1", 1], "stop_at_clip_layer": -1}}
    g["2"] = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
        "clip": ["10", 0], "width": 1024, "height": 1024, "crop_w": 0, "crop_h": 0, "target_width": 1024,
        "target_height": 1024, "text_g": "a castle on a hill, (sunset:1.2)", "text_l": "a castle, dramatic sky"}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 7, "steps": 8, "cfg": 5.5, "sampler_name": "dpmpp_2m", "scheduler": "karras",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


def two_pass():
    """The base + refiner layout: KSamplerAdvanced to step 7 of 10 with leftover noise, then a
    second checkpoint's KSamplerAdvanced from step 7 without new noise (its own text encodes)."""
    g = _base("a lighthouse at dawn, (stormy sea:1.1)", "blurry")
    g["5"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["1", 0], "add_noise": "enable", "noise_seed": 1234, "steps": 10, "cfg": 7.0,
        "sampler_name": "euler_ancestral", "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["4", 0], "start_at_step": 0, "end_at_step": 7, "return_with_leftover_noise": "enable"}}
    g["11"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SECOND}}
    g["12"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["11", 1], "text": "a lighthouse at dawn"}}
    g["13"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["11", 1], "text": "blurry"}}
    g["6"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["11", 0], "add_noise": "disable", "noise_seed": 1234, "steps": 10, "cfg": 7.0,
        "sampler_name": "euler_ancestral", "scheduler": "normal", "positive": ["12", 0], "negative": ["13", 0],
        "latent_image": ["5", 0], "start_at_step": 7, "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    return decode_save(g, ("6", 0), vae=("11", 2))


def refiner(plain: bool = False):
    """Base to step 6 of 9 with leftover noise, then the refiner checkpoint (CLIP-G only,
    aesthetic-score y) from step 6: with CLIPTextEncodeSDXLRefiner (ascore 6 / 2.5, 1024 px)
    or, `plain`, CLIPTextEncode on the refiner's CLIP behind CLIPSetLastLayer -1 (the
    scores then default by side: 6 positive, 2.5 negative)."""
    g = _base("a lighthouse at dawn, (stormy sea:1.1)", "blurry")
    g["5"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["1", 0], "add_noise": "enable", "noise_seed": 99, "steps": 9, "cfg": 6.0,
        "sampler_name": "dpmpp_2m" if plain else "euler", "scheduler": "karras" if plain else "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "start_at_step": 0,
        "end_at_step": 6, "return_with_leftover_noise": "enable"}}
    g["11"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": REFINER}}
    if plain:
        g["14"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["11", 1], "stop_at_clip_layer": -1}}
        g["12"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["14", 0], "text": "a lighthouse, (sharp:1.2)"}}
        g["13"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["14", 0], "text": "blurry"}}
    else:
        g["12"] = {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {
            "clip": ["11", 1], "ascore": 6.0, "width": 1024, "height": 1024, "text": "a lighthouse at dawn"}}
        g["13"] = {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {
            "clip": ["11", 1], "ascore": 2.5, "width": 1024, "height": 1024, "text": "blurry"}}
    g["6"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["11", 0], "add_noise": "disable", "noise_seed": 99, "steps": 9, "cfg": 6.0,
        "sampler_name": "dpmpp_2m" if plain else "euler", "scheduler": "karras" if plain else "normal",
        "positive": ["12", 0], "negative": ["13", 0], "latent_image": ["5", 0], "start_at_step": 6,
        "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    return decode_save(g, ("6", 0), vae=("11", 2))


def lora():
    """LoraLoader (UNet 0.8, both CLIPs 0.7) with a kohya SDXL LoRA named the SGM way."""
    g = _base("a red fox, (sharp:1.1)", "blurry", clip=("10", 1))
    g["10"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": LORA_NAME,
                                                     "strength_model": 0.8, "strength_clip": 0.7}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["10", 0], "seed": 5, "steps": 6, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


GRAPHS = {"txt2img": txt2img(), "sdxl_encode": sdxl_encode(), "two_pass": two_pass(), "refiner": refiner(),
          "refiner_plain": refiner(plain=True), "lora": lora()}
LATENT_OUTPUTS = {"txt2img": [("5", 0)], "sdxl_encode": [("5", 0)], "two_pass": [("5", 0), ("6", 0)],
                  "refiner": [("5", 0), ("6", 0)], "refiner_plain": [("5", 0), ("6", 0)], "lora": [("5", 0)]}


def summarise_tensor(t):
    t = t.contiguous().float()
    return {"shape": list(t.shape), "sha256": hashlib.sha256(t.numpy().tobytes()).hexdigest()}


@pytest.fixture(scope="module")
def model():
    from aigif.diffusion.engines.comfyui.sdxl import SdxlModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield SdxlModel.from_pretrained(TINY_XL, name="tiny-sdxl")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def refiner_model():
    from aigif.diffusion.engines.comfyui.sdxl import SdxlModel

    return SdxlModel.from_pretrained(TINY_REFINER, name="tiny-sdxl-refiner")


@pytest.fixture(scope="module")
def golden():
    data = json.loads((GOLDENS / "sdxl.json").read_text())
    assert data["comfyui_commit"] == COMFYUI_COMMIT
    return data


def encode_case(clip, inputs, skip):
    if "text" in inputs:
        return clip.encode_text(inputs["text"], skip)
    return clip.encode(clip.tokenize_pair(inputs["text_g"], inputs["text_l"]), skip)


def test_text_encodings_match_comfyui(model, golden):
    """Both encoders, both text nodes, clip skips: cross-attention and pooled tensors bit-exact."""
    from aigif.diffusion.engines.comfyui.sdxl import SdxlClip

    clip = SdxlClip(model)
    assert [c[0] for c in TEXT_CASES] == [c["name"] for c in golden["text"]]
    for (name, inputs, skip), want in zip(TEXT_CASES, golden["text"]):
        cond, pooled = encode_case(clip, inputs, skip)
        assert summarise_tensor(cond) == want["cond"], name
        assert summarise_tensor(pooled) == want["pooled"], name


def test_adm_matches_comfyui(model, golden):
    """SDXL.encode_adm for recorded sizes and for the latent-size defaults."""
    from aigif.diffusion.engines.comfyui.sdxl import adm, size_conditioning

    for case in golden["adm"]:
        pooled = torch.tensor([float.fromhex(v) for v in case["pooled"]]).reshape(1, -1)
        sizes = size_conditioning(case["sizes"], case["latent_shape"])
        assert summarise_tensor(adm(pooled, sizes, model.time_embed_dim)) == case["y"], case["sizes"]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_sdxl_graph_against_comfyui(name, golden, model, refiner_model):
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph

    want = golden["graphs"][name]
    assert want["graph"] == GRAPHS[name]
    resources = GraphResources(checkpoint=lambda n: {CKPT: model, SECOND: model, REFINER: refiner_model}.get(n),
                               lora=lambda n: LORA if n == LORA_NAME else None)
    result = run_graph(copy.deepcopy(GRAPHS[name]), resources)
    (pixels,) = result.images.values()
    assert_matches([summarise_latent(result.latent(n, i)) for n, i in LATENT_OUTPUTS[name]], summarise_pixels(pixels), want)


def test_size_conditioning_reaches_the_unet(model):
    """The y vector is live: other recorded sizes give another image (so a dropped size is caught)."""
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph

    resources = GraphResources(checkpoint=lambda n: model if n == CKPT else None)
    graph = copy.deepcopy(GRAPHS["sdxl_encode"])
    first = run_graph(copy.deepcopy(graph), resources).latent("5")
    graph["2"]["inputs"]["target_width"] = 512
    second = run_graph(graph, resources).latent("5")
    assert not torch.equal(first, second)


def test_sdxl_conditioning_into_an_sd1_model_is_refused(model):
    from aigif.diffusion.engines.a1111.engine import A1111Model
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph
    from aigif.errors import InvalidSyntax

    sd1 = A1111Model.from_pretrained(REPO / "registry/embedded/tiny-sd", name="tiny-sd")
    graph = copy.deepcopy(GRAPHS["two_pass"])
    graph["6"]["inputs"]["positive"] = ["2", 0]  # the SDXL checkpoint's text into the SD 1.x UNet
    resources = GraphResources(checkpoint=lambda n: model if n == CKPT else sd1)
    with pytest.raises(InvalidSyntax, match="another model family"):
        run_graph(graph, resources)


def test_lora_changes_the_sdxl_image(golden):
    """The SDXL LoRA fixture is live in ComfyUI's run: its output differs without it."""
    assert golden["graphs"]["lora"]["pixels"]["sha256"] != golden["lora_check"]["without_lora_pixels_sha256"]


def test_sgm_key_names_match_comfyuis_map(golden):
    """aigif's LDM/SGM <-> diffusers UNet module names (lora.sgm_name) equal ComfyUI's
    comfy.utils.unet_to_diffusers for tiny-sdxl, an SDXL-shaped and an SD1.5-shaped UNet."""
    from diffusers import UNet2DConditionModel

    from aigif.diffusion.engines.comfyui.lora import sgm_name

    for case in golden["sgm_names"]:
        unet = UNet2DConditionModel(**case["diffusers_config"])
        modules = {n for n, m in unet.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}
        assert modules == set(case["names"]), case["label"]
        for name, want in case["names"].items():
            assert sgm_name(unet.config, name) == want, (case["label"], name)


def test_refiner_text_and_y(refiner_model, golden):
    """The refiner's CLIP-G-only text and its aesthetic-score y, tensor for tensor."""
    from aigif.diffusion.engines.comfyui.sdxl import SdxlClip, adm, size_conditioning

    assert refiner_model.family == "sdxl-refiner"
    clip = SdxlClip(refiner_model)
    for case in golden["refiner_text"]:
        cond, pooled = clip.encode_text(case["text"], case["skip"])
        assert summarise_tensor(cond) == case["cond"], case["text"]
        assert summarise_tensor(pooled) == case["pooled"], case["text"]
    for case in golden["refiner_adm"]:
        pooled = torch.tensor([float.fromhex(v) for v in case["pooled"]]).reshape(1, -1)
        sizes = size_conditioning(case["sizes"], case["latent_shape"], True, case["prompt_type"])
        assert summarise_tensor(adm(pooled, sizes, refiner_model.time_embed_dim)) == case["y"], case


def test_clip_text_encode_sdxl_on_a_refiner_is_refused(refiner_model):
    from aigif.diffusion.engines.comfyui.sdxl import SdxlClip
    from aigif.errors import UnsupportedFeature

    with pytest.raises(UnsupportedFeature, match="refiner"):
        SdxlClip(refiner_model).tokenize_pair("a", "b")
