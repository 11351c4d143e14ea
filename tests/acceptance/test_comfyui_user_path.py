"""The ComfyUI user path end to end (issue 12): a PNG carrying a ComfyUI API graph whose
CheckpointLoaderSimple names `tiny-sd` -> `aigif import` -> `aigif unpack` runs the ComfyUI
engine and gives the pixels the engine's graph interpreter makes from the original graph
itself (graph.run_graph on the PNG's own `prompt`): the .aigif loses nothing the engine uses.

ComfyUI's own pixels for these graphs (tests/goldens/comfyui/graphs.json, from ComfyUI's
code) are compared where that golden file has the case; until it exists the comparison is
with the interpreter, whose numerics the other ComfyUI golden tests pin."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
np = pytest.importorskip("numpy")
from PIL import Image, PngImagePlugin  # noqa: E402

import aigif  # noqa: E402
from aigif.cli.main import main  # noqa: E402

HERE = Path(__file__).parents[1]
GOLDENS = HERE / "goldens" / "comfyui" / "graphs.json"


def txt2img() -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in the snow", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 6, "cfg": 7.0, "sampler_name": "euler_ancestral",
                                                   "scheduler": "karras", "denoise": 1.0, "model": ["4", 0],
                                                   "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


def hires() -> dict:
    g = txt2img()
    g["30"] = {"class_type": "LatentUpscaleBy", "inputs": {"upscale_method": "nearest-exact", "scale_by": 2, "samples": ["3", 0]}}
    g["31"] = {"class_type": "KSampler", "inputs": {**g["3"]["inputs"], "steps": 4, "denoise": 0.5, "sampler_name": "euler",
                                                    "scheduler": "normal", "latent_image": ["30", 0]}}
    g["8"]["inputs"]["samples"] = ["31", 0]
    return g


def engine_pixels(graph: dict) -> np.ndarray:
    """What the interpreter makes of the original graph, tiny-sd loaded as the engine does."""
    from aigif.diffusion.engines.a1111.from_syntax import load_model
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph
    from aigif.registry import get_registry

    entry = get_registry().find_model("tiny-sd")
    result = run_graph(graph, GraphResources(checkpoint=lambda name: load_model(entry) if name == "tiny-sd" else None))
    return result.images["9"][0]


def golden_sha(name: str) -> str | None:
    if not GOLDENS.exists():
        return None
    cases = json.loads(GOLDENS.read_text(encoding="utf-8"))
    cases = cases.get("cases", cases) if isinstance(cases, dict) else cases
    for case in cases if isinstance(cases, list) else []:
        if case.get("name") == name:
            return case.get("pixels_sha256")
    return None


@pytest.mark.parametrize("name,build", [("txt2img", txt2img), ("hires", hires)])
def test_import_then_unpack_gives_the_graphs_pixels(tmp_path, capsys, name, build):
    graph = build()
    expected = engine_pixels(graph)
    sha = golden_sha(name)
    if sha is not None:
        assert hashlib.sha256(expected.tobytes()).hexdigest() == sha, "the interpreter is not ComfyUI here"
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    png = tmp_path / "ComfyUI_00001_.png"
    Image.fromarray(expected, "RGB").save(png, pnginfo=info)

    assert main(["import", str(png), "-o", str(tmp_path / "out.aigif")]) == 0
    syntax = aigif.to_dict(aigif.decode((tmp_path / "out.aigif").read_bytes()))
    assert syntax["extensions"]["semantics"] == {"engine": "comfyui"}
    assert ("comfyui_graph" in syntax["extensions"]) == (name != "txt2img")
    assert main(["unpack", str(tmp_path / "out.aigif"), "-o", str(tmp_path / "back.png")]) == 0
    back = np.asarray(Image.open(tmp_path / "back.png").convert("RGB"))
    assert back.shape == expected.shape
    assert np.array_equal(back, expected)
    capsys.readouterr()


def test_a_graph_with_an_untabled_node_is_refused_naming_it(tmp_path, capsys):
    graph = txt2img()
    graph["50"] = {"class_type": "ImageSharpen", "inputs": {"image": ["8", 0], "sharpen_radius": 1}}
    graph["9"]["inputs"]["images"] = ["50", 0]
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    png = tmp_path / "sharp.png"
    Image.new("RGB", (64, 64)).save(png, pnginfo=info)
    assert main(["import", str(png), "-o", str(tmp_path / "s.aigif")]) == 0
    capsys.readouterr()
    status = main(["unpack", str(tmp_path / "s.aigif"), "-o", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert status == 4 and "ImageSharpen" in err
    assert not (tmp_path / "s.png").exists()


GOLDEN_GRAPHS = json.loads(GOLDENS.read_text(encoding="utf-8"))["graphs"] if GOLDENS.exists() else {}


@pytest.mark.parametrize("name", sorted(GOLDEN_GRAPHS))
def test_comfyuis_own_graphs_import_and_unpack_to_comfyuis_pixels(tmp_path, capsys, name):
    """The graphs ComfyUI 0.3.64 itself ran (tests/goldens/comfyui/graphs.json): a PNG carrying
    each one -> import -> unpack gives exactly ComfyUI's pixels, and verify says bit-exact.
    The PNG's pixels are the engine's, admitted only when their sha256 is ComfyUI's."""
    case = GOLDEN_GRAPHS[name]
    lora_dir = (HERE / "fixtures" / "lora").resolve()
    from aigif.diffusion.engines.a1111.from_syntax import load_model
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph
    from aigif.registry import get_registry

    entry = get_registry().find_model("tiny-sd")
    resources = GraphResources(
        checkpoint=lambda ckpt: load_model(entry) if ckpt.startswith("tiny-sd") else None,
        lora=lambda lora: lora_dir / lora if (lora_dir / lora).is_file() else None,
    )
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the goldens' setting: float sums depend on the thread count
    try:
        made = run_graph(case["graph"], resources).images["9"][0]
    finally:
        torch.set_num_threads(threads)
    assert hashlib.sha256(np.ascontiguousarray(made).tobytes()).hexdigest() == case["pixels"]["sha256"]
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(case["graph"]))
    png = tmp_path / f"{name}.png"
    Image.fromarray(made, "RGB").save(png, pnginfo=info)

    out = tmp_path / f"{name}.aigif"
    assert main(["import", str(png), "-o", str(out)]) == 0
    back_png = tmp_path / "back.png"
    assert main(["unpack", str(out), "-o", str(back_png), "--lora-dir", str(lora_dir), "--threads", "1"]) == 0
    back = np.ascontiguousarray(np.asarray(Image.open(back_png).convert("RGB")))
    assert hashlib.sha256(back.tobytes()).hexdigest() == case["pixels"]["sha256"]
    assert main(["verify", str(out), "--lora-dir", str(lora_dir), "--threads", "1"]) == 0  # FIDELITY of the original: bit-exact
    capsys.readouterr()


SDXL_GOLDENS = HERE / "goldens" / "comfyui" / "sdxl.json"
SDXL_GRAPHS = json.loads(SDXL_GOLDENS.read_text(encoding="utf-8"))["graphs"]


@pytest.mark.parametrize("name", sorted(SDXL_GRAPHS))
def test_comfyuis_own_sdxl_graphs_import_and_unpack_to_comfyuis_pixels(tmp_path, capsys, name):
    """ComfyUI's SDXL graphs on tiny-sdxl and tiny-sdxl-refiner (tests/goldens/comfyui/sdxl.json:
    txt2img, CLIPTextEncodeSDXL with clip skip, the base + second-checkpoint two-pass, base +
    refiner with CLIPTextEncodeSDXLRefiner and with plain CLIPTextEncode, an SDXL kohya LoRA
    on the UNet and both CLIPs): PNG -> import ->
    unpack gives ComfyUI's pixels exactly.  The golden run loaded the same tiny-sdxl
    weights for both checkpoint loaders, so the second loader is named tiny-sdxl here (the
    registry has no entry for the stand-in name)."""
    graph = json.loads(json.dumps(SDXL_GRAPHS[name]["graph"]))
    for node in graph.values():
        if node["class_type"] == "CheckpointLoaderSimple" and node["inputs"]["ckpt_name"] == "tiny-sdxl-second.safetensors":
            node["inputs"]["ckpt_name"] = "tiny-sdxl.safetensors"
    want = SDXL_GRAPHS[name]["pixels"]["sha256"]
    from aigif.diffusion.engines.comfyui.from_syntax import load_checkpoint
    from aigif.diffusion.engines.comfyui.graph import GraphResources, run_graph
    from aigif.registry import get_registry
    import torch

    registry = get_registry()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lora_dir = (HERE / "fixtures" / "lora").resolve()
        resources = GraphResources(checkpoint=lambda n: load_checkpoint(registry.find_model(Path(n).stem)),
                                   lora=lambda n: lora_dir / n if (lora_dir / n).is_file() else None)
        made = run_graph(json.loads(json.dumps(graph)), resources).images["9"][0]
    finally:
        torch.set_num_threads(threads)
    assert hashlib.sha256(np.ascontiguousarray(made).tobytes()).hexdigest() == want
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    png = tmp_path / f"{name}.png"
    Image.fromarray(made, "RGB").save(png, pnginfo=info)
    out = tmp_path / f"{name}.aigif"
    assert main(["import", str(png), "-o", str(out)]) == 0
    syntax = aigif.to_dict(aigif.decode(out.read_bytes()))
    assert syntax["extensions"]["semantics"] == {"engine": "comfyui"}
    back_png = tmp_path / "back.png"
    assert main(["unpack", str(out), "-o", str(back_png), "--threads", "1", "--lora-dir", str(lora_dir)]) == 0
    back = np.ascontiguousarray(np.asarray(Image.open(back_png).convert("RGB")))
    assert hashlib.sha256(back.tobytes()).hexdigest() == want
    capsys.readouterr()
