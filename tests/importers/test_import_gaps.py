"""Import gaps closed for issue 11: a corrupt original is imported without a fidelity hash
(never an internal error), Civitai-generator JPEGs whose EXIF UserComment is a ComfyUI
graph, and dream.py's `Dream` command lines."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import pytest
from PIL import Image

from aigif.errors import NoGenerationMetadata
from aigif.importers import import_image
from fuzz.mutate import png_chunk
from conftest import shared

INFOTEXT = b"a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64, Model: tiny-sd"


def _png_broken_after_pixels() -> bytes:
    """An A1111 PNG whose pixel stream stops half way, followed by a chunk header of garbage:
    Pillow's load() reads on into it and raises SyntaxError('broken PNG file')."""
    w = h = 64
    rng = random.Random(1)
    raw = b"".join(b"\0" + rng.randbytes(3 * w) for _ in range(h))
    z = zlib.compress(raw)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"tEXt", b"parameters\0" + INFOTEXT)
            + png_chunk(b"IDAT", z[: len(z) // 2]) + b"\x00\x00\x10\x00\x9d\xd0\xea\xd9" + b"\x55" * 64)


def test_corrupt_png_original_imports_without_a_fidelity_hash():
    data = _png_broken_after_pixels()
    with pytest.raises(SyntaxError):  # the premise: Pillow itself fails on these pixels
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    r = import_image(data)
    assert r.tool == "a1111" and r.syntax["seed"] == 5 and r.syntax["model"] == "tiny-sd"
    assert "fidelity" not in r.syntax
    assert any(w.startswith("no fidelity hash") and "SyntaxError" in w for w in r.warnings), r.warnings


def test_corrupt_png_original_from_a_path_too(tmp_path):
    p = tmp_path / "broken.png"
    p.write_bytes(_png_broken_after_pixels())
    r = import_image(str(p))
    assert "fidelity" not in r.syntax and r.syntax["steps"] == 20


def test_intact_png_original_still_gets_its_fidelity_hash():
    from PIL import PngImagePlugin

    from aigif.fidelity import fidelity_of

    im = Image.new("RGB", (64, 64), (10, 200, 30))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT.decode())
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    assert import_image(buf.getvalue()).syntax["fidelity"] == fidelity_of(im).to_dict()


# -- Civitai's generator: a ComfyUI graph as the JPEG's UserComment ------------------------
CIVITAI_GRAPH = {
    "resource-stack": {"class_type": "CheckpointLoaderSimple",
                       "inputs": {"ckpt_name": "urn:air:sdxl:checkpoint:civitai:827184@2514310"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["resource-stack", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["resource-stack", 1]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
    "11": {"class_type": "KSampler", "inputs": {"seed": 987654321, "steps": 28, "cfg": 4.5, "sampler_name": "euler_ancestral",
                                              "scheduler": "normal", "denoise": 1, "model": ["resource-stack", 0],
                                              "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["resource-stack", 2]}},
    "12": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


def _civitai_jpeg(comment: dict) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + json.dumps(comment).encode("utf-16-be")
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 90, 90)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_civitai_comfyui_graph_in_usercomment_is_comfyui():
    extra_metadata = json.dumps({"prompt": "a lighthouse at dusk", "negativePrompt": "blurry", "steps": 28,
                                 "cfgScale": 4.5, "sampler": "Euler a", "seed": 987654321, "workflowId": "txt2img"})
    comment = dict(CIVITAI_GRAPH, extra={"airs": ["urn:air:sdxl:checkpoint:civitai:827184@2514310"]},
                   extraMetadata=extra_metadata)
    r = import_image(_civitai_jpeg(comment))
    assert r.tool == "comfyui"
    s = r.syntax
    assert (s["prompt"], s["negative_prompt"], s["seed"], s["steps"]) == ("a lighthouse at dusk", "blurry", 987654321, 28)
    assert (s["width"], s["height"], s["guidance"]) == (832, 1216, 4.5)
    assert s["scheduler"] == "euler_a"
    assert any("Civitai extra" in u for u in r.unmapped)  # the AIR references kept, verbatim
    assert any("extraMetadata" in w for w in r.warnings)  # the restatement named, not kept


def test_civitai_graph_without_its_wrapper_keys_is_comfyui_too():
    assert import_image(_civitai_jpeg(CIVITAI_GRAPH)).tool == "comfyui"


def test_a_json_usercomment_with_other_keys_is_not_taken_for_a_graph():
    """Only Civitai's two wrapper keys may sit beside the nodes."""
    comment = dict(CIVITAI_GRAPH, extra={}, settings={"theme": "dark"})
    with pytest.raises(NoGenerationMetadata):
        import_image(_civitai_jpeg(comment))


# -- dream.py's `Dream` text field --------------------------------------------------------
def _dream_png(line: str) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Dream", line)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_dream_line_with_spaced_switches_and_negative():
    r = import_image(_dream_png('"a red fox in snow [blurry, lowres]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms'))
    s = r.syntax
    assert r.tool == "dream"
    assert (s["prompt"], s["negative_prompt"]) == ("a red fox in snow", "blurry, lowres")
    assert (s["steps"], s["seed"], s["width"], s["height"], s["guidance"]) == (50, 42, 512, 768, 7.5)
    assert s["scheduler"] == "lms"


def test_dream_long_options_are_read_and_each_kept_by_name():
    r = import_image(_dream_png('"a castle" --steps=30 -S 7 -W 512 -H 512 -C 8 -A k_euler_a --seamless '
                                '--hires_fix --perlin 0.1 -I init.png -f 0.6'))
    s = r.syntax
    assert (s["steps"], s["seed"], s["guidance"], s["scheduler"]) == (30, 7, 8, "euler_a")
    assert s["extensions"]["img2img"]["strength"] == 0.6
    kept = " ".join(r.unmapped)
    for name in ("--seamless", "--hires_fix", "--perlin", "0.1", "init.png"):
        assert name in kept, (name, r.unmapped)
    assert "_extra" not in kept  # nothing lumped together under a made-up name


def test_dream_early_unquoted_line():
    r = import_image(_dream_png("ashley judd riding a camel -s150 -S1234 -Ak_lms"))
    assert r.tool == "dream"
    assert (r.syntax["prompt"], r.syntax["steps"], r.syntax["seed"]) == ("ashley judd riding a camel", 150, 1234)


def test_dream_text_without_any_switch_is_not_taken_for_a_command_line():
    with pytest.raises(NoGenerationMetadata):
        import_image(_dream_png("just a note about dreams"))


def test_real_lstein_dream_png():
    """lstein/stable-diffusion dream.py's own output (shared data; its manifest names the source)."""
    r = import_image(str(shared("aigc-images", "55_lstein_dream_full.png")))
    s = r.syntax
    assert r.tool == "dream"
    assert (s["prompt"], s["steps"], s["seed"], s["guidance"], s["scheduler"]) == (
        "a giraffe with a very long neck", 50, 3463495068, 7.5, "lms")
    assert "fidelity" in s  # a lossless original: its pixels hashed
