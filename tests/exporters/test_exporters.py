"""Exporters: AIGIF syntax -> A1111 infotext / ComfyUI API graph / JSON, and embedding
the infotext into a PNG.  The A1111 round trip runs on real A1111-family files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import aigif
from aigif import errors
from aigif.exporters import embed_a1111, to_a1111, to_comfyui, to_json
from aigif.importers import import_image
from aigif.importers.tools.a1111 import parse_infotext
from aigif.importers.containers import read_container
from aigif.registry import get_registry

try:  # tests/ is a package in the lead's layout, a rootdir in others
    from .conftest import shared
except ImportError:
    from conftest import shared
from samples import a1111_png, comfyui_png, png_image

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "aigc"

# Keys AIGIF maps to its own fields: after infotext -> .aigif -> infotext they must carry
# the same values.  (Sampler/Schedule type are compared through the scheduler they name.)
MAPPED = ("Steps", "CFG scale", "Seed", "Size-1", "Size-2", "Clip skip", "ENSD", "RNG", "Denoising strength",
          "Variation seed", "Variation seed strength", "Hires upscale", "Hires steps", "Hires upscaler", "Version")


def _original_infotext(path: Path) -> str:
    c = read_container(path.read_bytes())
    text = c.get("parameters") or c.get("UserComment")
    if text is None:  # stealth: the importer reads the pixels
        from aigif.importers.containers import stealth

        text = stealth.read(path.read_bytes(), [])[0].value
    return text


def _num(v):
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return v


def _round_trip(path: Path):
    original = _original_infotext(path)
    r = import_image(path)
    syntax = aigif.decode(aigif.encode(aigif.from_dict(r.syntax)))  # through the file format
    exported = to_a1111(syntax)
    p0, n0, k0 = parse_infotext(original)
    p1, n1, k1 = parse_infotext(exported)
    assert p1 == p0
    assert (n1 or "") == (n0 or "")  # A1111 writes no line for an empty negative prompt
    for key in MAPPED:
        if key in k0:
            assert _num(k1.get(key)) == _num(k0[key]), key
    reg = get_registry()
    assert reg.scheduler_from_tool("a1111", k1["Sampler"], k1.get("Schedule type")) is reg.scheduler_from_tool(
        "a1111", k0["Sampler"], k0.get("Schedule type"))
    if "Model hash" in k0:
        # the hash survives, or the registry resolved the model and names its own hash
        entry = reg.model_by_fingerprint(k0["Model hash"])
        assert k1.get("Model hash") == k0["Model hash"].lower() or (entry is not None and k1.get("Model") == entry.name)
    return k0, k1


@pytest.mark.parametrize("name", ["01_a1111_cropped.png", "02_a1111_cropped.jpg", "03_a1111_stealth_pnginfo.png",
                                  "04_a1111_ztxt_after_idat.png", "39_a1111_webui.webp"])
def test_a1111_round_trip_fixtures(name):
    _round_trip(FIX / name)


@pytest.mark.parametrize("name", ["16_forge.png", "17_forge_classic_ascii.png", "19_sdnext.png", "20_a1111_webui.png",
                                  "32_a1111_webui.jpg", "34_civitai_generator.jpeg", "53_a1111_2022_with_extras.png",
                                  "57_comfyui_a1111style_png_named.jpeg"])
def test_a1111_round_trip_real(name):
    k0, k1 = _round_trip(shared("aigc-images", name))
    # keys AIGIF could not map come back verbatim too
    for key in ("Mask blur", "Sampler sigma", "Pipeline"):
        if key in k0:
            assert k1[key] == k0[key]


def test_a1111_round_trip_is_byte_exact_for_a_modern_infotext():
    path = FIX / "39_a1111_webui.webp"
    assert to_a1111(aigif.from_dict(import_image(path).syntax)) == _original_infotext(path)


def test_a1111_quotes_values_with_commas():
    s = aigif.from_dict({"model": "x", "prompt": "p", "seed": 5,
                                "extensions": {"unmapped": {"Weird": "a, b: c"}, "source": {"tool": "a1111"}}})
    text = to_a1111(s)
    assert 'Weird: "a, b: c"' in text
    assert parse_infotext(text)[2]["Weird"] == "a, b: c"


def test_a1111_lora_hashes_round_trip():
    info = ("a cat <lora:detail:0.6>\nNegative prompt: ugly\n"
            'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 9, Size: 512x512, Model: v1-5-pruned-emaonly, '
            'Lora hashes: "detail: 7c6bad76eb54", Version: v1.6.0')
    png = a1111_png(info)
    r = import_image(png)
    assert r.syntax["prompt"] == "a cat <lora:detail:0.6>"  # the tag stays prompt text
    assert r.syntax["extensions"]["lora"] == [{"name": "detail", "weight": 0.6, "hash": "7c6bad76eb54"}]
    k = parse_infotext(to_a1111(aigif.from_dict(r.syntax)))[2]
    assert k["Lora hashes"] == "detail: 7c6bad76eb54"


def test_a1111_hires_and_variation_round_trip():
    info = ("castle\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 123, Size: 512x768, "
            "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Variation seed: 77, Variation seed strength: 0.3, "
            "Denoising strength: 0.45, Clip skip: 2, RNG: CPU, ENSD: 31337, Hires upscale: 2, Hires steps: 10, "
            "Hires upscaler: Latent, ADetailer model: face_yolov8n.pt, ADetailer confidence: 0.3, "
            "Seed resize from: 640x448, Version: v1.10.1")
    r = import_image(a1111_png(info))
    ext = r.syntax["extensions"]
    assert ext["hires"] == {"scale": 2, "steps": 10, "upscaler": "Latent", "denoise": 0.45}
    assert ext["variation"] == {"seed": 77, "strength": 0.3}
    assert ext["rng"] == {"source": "cpu", "ensd": 31337}
    assert ext["adetailer"] == {"model": "face_yolov8n.pt", "confidence": "0.3"}
    k0 = parse_infotext(info)[2]
    k1 = parse_infotext(to_a1111(aigif.from_dict(r.syntax)))[2]
    for key in MAPPED + ("ADetailer model", "ADetailer confidence", "Seed resize from-1", "Seed resize from-2"):
        if key in k0:
            assert _num(k1.get(key)) == _num(k0[key]), key


# -- ComfyUI ----------------------------------------------------------------------------------
def _check_links(graph: dict) -> None:
    outputs = {"CheckpointLoaderSimple": 3, "LoraLoader": 2, "CLIPSetLastLayer": 1, "CLIPTextEncode": 1,
               "EmptyLatentImage": 1, "KSampler": 1, "KSamplerAdvanced": 1, "VAEDecode": 1, "VAELoader": 1, "SaveImage": 0,
               "LatentUpscale": 1, "UpscaleModelLoader": 1, "ImageUpscaleWithModel": 1, "ImageScale": 1, "VAEEncode": 1}
    for nid, node in graph.items():
        for name, v in node["inputs"].items():
            if isinstance(v, list):
                src, slot = v
                assert src in graph, f"{nid}.{name} -> missing node {src}"
                assert slot < outputs[graph[src]["class_type"]], f"{nid}.{name} -> bad slot"


def test_comfyui_graph_from_real_comfyui_image_matches_its_sampler():
    r = import_image(FIX / "01_a1111_cropped.png")
    # strict=False: an A1111 image is in a1111 semantics, which a ComfyUI graph cannot carry
    g = to_comfyui(aigif.from_dict(r.syntax), strict=False)
    _check_links(g)
    ks = next(n for n in g.values() if n["class_type"] == "KSampler")["inputs"]
    assert (ks["seed"], ks["steps"], ks["cfg"]) == (235284042, 15, 5.0)
    latent = next(n for n in g.values() if n["class_type"] == "EmptyLatentImage")["inputs"]
    assert (latent["width"], latent["height"]) == (512, 400)
    texts = sorted(n["inputs"]["text"] for n in g.values() if n["class_type"] == "CLIPTextEncode")
    assert texts == ["monochrome", "photo of a duck"]
    assert {n["class_type"] for n in g.values()} >= {"CheckpointLoaderSimple", "VAEDecode", "SaveImage"}
    reg = get_registry()
    assert reg.scheduler_from_tool("comfyui", ks["sampler_name"], ks["scheduler"]) is reg.find_scheduler(r.syntax["scheduler"])


def test_comfyui_lora_chain_and_clip_skip():
    s = aigif.from_dict({"model": "sd-1.5", "prompt": "x", "seed": 3, "extensions": {
        "lora": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 1.0, "clip_weight": 0.25}], "clip_skip": 2}})
    g = to_comfyui(s)
    _check_links(g)
    loras = [n for n in g.values() if n["class_type"] == "LoraLoader"]
    assert [(n["inputs"]["lora_name"], n["inputs"]["strength_model"], n["inputs"]["strength_clip"]) for n in loras] == [
        ("a.safetensors", 0.5, 0.5), ("b.safetensors", 1.0, 0.25)]
    ks = next(n for n in g.values() if n["class_type"] == "KSampler")
    assert g[ks["inputs"]["model"][0]] is loras[-1]
    assert next(n for n in g.values() if n["class_type"] == "CLIPSetLastLayer")["inputs"]["stop_at_clip_layer"] == -2


def test_comfyui_refuses_what_it_cannot_apply():
    s = aigif.from_dict({"model": "sd-1.5", "prompt": "x", "extensions": {"img2img": {"strength": 0.5}}})
    with pytest.raises(errors.UnsupportedFeature):
        to_comfyui(s)
    g = to_comfyui(s, strict=False)
    assert "img2img" in json.dumps(g)


def test_comfyui_hires_second_pass_from_a_real_graph():
    """ComfyUI hires graph -> AIGIF -> ComfyUI graph: the second pass comes back."""
    r = import_image(shared("aigc-images", "13_comfyui_hires.png"))
    g = to_comfyui(aigif.from_dict({k: v for k, v in r.syntax.items()}), strict=False)
    samplers = [n for n in g.values() if n["class_type"] == "KSampler"]
    assert len(samplers) == 2
    second = next(n for n in samplers if n["inputs"]["latent_image"][0] != "5")
    assert (second["inputs"]["steps"], second["inputs"]["denoise"]) == (10, 0.3)
    scale = next(n for n in g.values() if n["class_type"] == "ImageScale")
    assert (scale["inputs"]["width"], scale["inputs"]["height"]) == (1536, 1536)
    assert next(n for n in g.values() if n["class_type"] == "UpscaleModelLoader")["inputs"]["model_name"] == "RealESRGAN_x4plus_anime_6B.pth"
    _check_links(g)


def test_comfyui_refiner_pair():
    s = aigif.from_dict({"model": "sdxl-base-1.0", "prompt": "x", "seed": 5, "steps": 25,
                                "extensions": {"refiner": {"model": "sdxl-refiner-1.0", "switch_at": 0.8}}})
    g = to_comfyui(s)
    _check_links(g)
    adv = sorted((n for n in g.values() if n["class_type"] == "KSamplerAdvanced"), key=lambda n: n["inputs"]["start_at_step"])
    assert [(n["inputs"]["start_at_step"], n["inputs"]["end_at_step"]) for n in adv] == [(0, 20), (20, 10000)]
    assert adv[0]["inputs"]["noise_seed"] == 5


def test_json_export_is_concrete():
    d = to_json(aigif.from_dict({"model": "sd-1.5", "prompt": "x"}))
    for key in ("steps", "guidance", "width", "height", "seed"):
        assert key in d
    assert aigif.from_dict(d).prompt == "x"


# -- embedding ----------------------------------------------------------------------------------
def test_embed_writes_a_parameters_chunk_that_imports_back(tmp_path):
    from PIL import Image

    src = tmp_path / "src.png"
    src.write_bytes(png_image((16, 8), mode="RGBA", colour=(9, 8, 7, 255), text={"Software": "GIMP 2.10"}))
    syntax = aigif.from_dict(import_image(FIX / "39_a1111_webui.webp").syntax)
    out = tmp_path / "out.png"
    embed_a1111(syntax, src, out)
    r = import_image(out)
    assert r.tool == "a1111"
    assert r.syntax["prompt"] == syntax.prompt and r.syntax["seed"] == 1028435836
    assert read_container(out.read_bytes()).get("Software") == "GIMP 2.10"  # other chunks kept
    with Image.open(out) as a, Image.open(src) as b:
        assert a.tobytes() == b.tobytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "src.png"]  # no temporary file left


def test_embed_replaces_an_existing_parameters_chunk(tmp_path):
    syntax = aigif.from_dict({"model": "sd-1.5", "prompt": "new prompt", "seed": 42})
    out = tmp_path / "o.png"
    embed_a1111(syntax, FIX / "01_a1111_cropped.png", out)
    c = read_container(out.read_bytes())
    assert [f.key for f in c.fields].count("parameters") == 1
    assert import_image(out).syntax["prompt"] == "new prompt"


def test_embed_into_jpeg_writes_exif_user_comment_that_imports_back(tmp_path):
    # issue 16 item 15: the README promised --embed for JPEG too (it refused them before)
    syntax = aigif.from_dict({"model": "sd-1.5", "prompt": "new prompt", "seed": 42})
    out = tmp_path / "o.jpg"
    embed_a1111(syntax, FIX / "02_a1111_cropped.jpg", out)
    r = import_image(out)
    assert r.tool == "a1111" and r.syntax["prompt"] == "new prompt" and r.syntax["seed"] == 42


def test_embed_refuses_what_is_not_an_image(tmp_path):
    syntax = aigif.from_dict({"model": "sd-1.5", "prompt": "x"})
    (tmp_path / "x.gif").write_bytes(b"GIF89a" + bytes(20))
    with pytest.raises(errors.UnsupportedFeature):
        embed_a1111(syntax, tmp_path / "x.gif", tmp_path / "o.png")


def test_cli_export_formats(tmp_path, capsys):
    from aigif.cli.main import main

    f = tmp_path / "a.aigif"
    assert main(["import", str(FIX / "01_a1111_cropped.png"), "-o", str(f)]) == 0
    capsys.readouterr()
    assert main(["export", str(f), "--format", "comfyui"]) == errors.ExitStatus.UNSUPPORTED  # a1111 semantics
    capsys.readouterr()
    assert main(["export", str(f), "--format", "comfyui", "--lenient"]) == 0
    g = json.loads(capsys.readouterr().out)
    _check_links(g)
    assert main(["export", str(f), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 235284042
    assert main(["export", str(f)]) == 0
    assert "Seed: 235284042" in capsys.readouterr().out
    assert main(["export", str(f), "--embed", str(FIX / "01_a1111_cropped.png")]) == errors.ExitStatus.USAGE
    out = tmp_path / "e.png"
    assert main(["export", str(f), "--embed", str(FIX / "01_a1111_cropped.png"), "-o", str(out)]) == 0
    assert import_image(out).syntax["seed"] == 235284042


def test_every_registry_scheduler_survives_the_a1111_round_trip():
    from aigif.importers.draft import Draft

    reg = get_registry()
    for entry in reg.schedulers.values():
        s = aigif.from_dict({"model": "sd-1.5", "prompt": "x", "seed": 1, "scheduler": entry.name})
        _, _, k = parse_infotext(to_a1111(s))
        d = Draft("a1111")
        d.set_scheduler("a1111", k["Sampler"], k.get("Schedule type"))
        assert d.syntax.get("scheduler") == entry.name, (entry.name, k["Sampler"], k.get("Schedule type"))


CORE = ("prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler", "model")


@pytest.mark.parametrize("source", [FIX / "01_a1111_cropped.png", FIX / "39_a1111_webui.webp", "12_comfyui_basic.png",
                                    "13_comfyui_hires.png", "45_comfyui_sdxl_refiner.png"])
def test_comfyui_export_imports_back_to_the_same_syntax(source):
    """AIGIF -> ComfyUI graph -> (as ComfyUI would save it) -> AIGIF keeps every core field."""
    path = source if isinstance(source, Path) else shared("aigc-images", source)
    before = import_image(path).syntax
    after = import_image(comfyui_png(to_comfyui(aigif.from_dict(before), strict=False))).syntax

    def name(m):
        return m["name"] if isinstance(m, dict) else m

    for key in CORE:
        if key in before:
            got, want = after.get(key), before[key]
            assert (name(got) if key == "model" else got) == (name(want) if key == "model" else want), key
    for key in ("clip_skip", "lora", "refiner"):
        assert after.get("extensions", {}).get(key) == before.get("extensions", {}).get(key), key
    hires_before = before.get("extensions", {}).get("hires")
    if hires_before:
        hires_after = after["extensions"]["hires"]
        for key in ("steps", "denoise", "width", "height", "upscaler"):
            assert hires_after.get(key) == hires_before.get(key), key


def test_a1111_strict_refuses_what_infotext_cannot_say(capsys, tmp_path):
    s = aigif.from_dict({"model": "sd-1.5", "prompt": "x", "extensions": {
        "characters": [{"prompt": "girl", "negative_prompt": "", "center": [0.5, 0.5]}]}})
    with pytest.raises(errors.UnsupportedFeature):
        to_a1111(s, strict=True)
    assert to_a1111(s).startswith("x\n")  # lenient by default: a description
    from aigif.cli.main import main

    f = tmp_path / "c.aigif"
    aigif.write(s, f)
    assert main(["export", str(f)]) == 0
    assert "cannot express: characters" in capsys.readouterr().err


def test_exports_of_an_unregistered_model_take_the_spec_generic_defaults():
    # spec §5.3: a model without registry defaults takes aigif.defaults.GENERIC_DEFAULTS;
    # the ComfyUI exporter had fallbacks of its own (20 steps, CFG 8) that disagreed
    from decimal import Decimal

    from aigif.defaults import GENERIC_DEFAULTS as g

    s = aigif.from_dict({"model": "someones-unregistered-model", "prompt": "x"})
    graph = to_comfyui(s)
    k, latent = graph["3"]["inputs"], graph["5"]["inputs"]
    assert (k["steps"], Decimal(str(k["cfg"])), k["seed"]) == (g["steps"], g["guidance"], 0)
    assert (latent["width"], latent["height"]) == (g["width"], g["height"])
    _, _, params = parse_infotext(to_a1111(s))
    assert (int(params["Steps"]), Decimal(params["CFG scale"]), params["Seed"]) == (g["steps"], g["guidance"], "0")
    assert (int(params["Size-1"]), int(params["Size-2"])) == (g["width"], g["height"])
