"""The seed corpus: spec/vectors/*.aigif for the decoder, tests/fixtures/aigc for whole
images, and one metadata recipe per importer (the fixtures' own text fields where a
fixture exists, small hand-written ones in each tool's documented layout otherwise).

A recipe is (container, [(key, value), ...]): `build_image` turns it into a PNG with
text chunks, or a JPEG/WebP whose EXIF carries UserComment/Software/ImageDescription,
so a text mutation of one field reaches the tool parser inside a valid image.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from functools import lru_cache
from pathlib import Path

from .mutate import PNG_SIGNATURE, png_chunk, text_chunk

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "spec" / "vectors"
FIXTURES = REPO / "tests" / "fixtures" / "aigc"

MAX_SEED_BYTES = 256 * 1024


def aigif_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(VECTORS.glob("*.aigif")) if p.stat().st_size <= MAX_SEED_BYTES]


def fixture_images() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(FIXTURES.iterdir())
            if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")]


# -- building images ----------------------------------------------------------------------
def tiny_png(width: int = 16, height: int = 16, chunks=()) -> bytes:
    """An RGB PNG of mid-grey pixels with the given extra chunks before IDAT."""
    raw = (b"\0" + b"\x80" * (3 * width)) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    out = PNG_SIGNATURE + png_chunk(b"IHDR", ihdr)
    for t, b in chunks:
        out += png_chunk(t, b)
    return out + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def _needs_itxt(value: str) -> bool:
    try:
        value.encode("latin-1")
        return False
    except UnicodeEncodeError:
        return True


@lru_cache(maxsize=4)
def _blank(fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, fmt)
    return buf.getvalue()


def _exif_bytes(fields: dict[str, str]) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    if "Software" in fields:
        exif[0x0131] = fields["Software"]
    if "ImageDescription" in fields:
        exif[0x010E] = fields["ImageDescription"]
    if "UserComment" in fields:
        v = fields["UserComment"]
        try:
            blob = b"ASCII\0\0\0" + v.encode("ascii")
        except UnicodeEncodeError:
            blob = b"UNICODE\0" + v.encode("utf-16-be", "surrogatepass")
        exif.get_ifd(0x8769)[0x9286] = blob
    if "MakerNote" in fields:
        exif.get_ifd(0x8769)[0x927C] = fields["MakerNote"].encode("utf-8", "surrogatepass")
    return exif.tobytes()


def build_image(container: str, fields: list[tuple[str, str]]) -> bytes:
    if container == "png":
        chunks = [text_chunk(k, v, b"iTXt" if _needs_itxt(v) else b"tEXt") for k, v in fields]
        return tiny_png(chunks=chunks)
    from PIL import Image

    im = Image.open(io.BytesIO(_blank("PNG")))
    buf = io.BytesIO()
    exif = _exif_bytes(dict(fields))
    if container == "jpeg" and len(exif) > 65000:
        container = "webp"  # one JPEG APP1 segment holds 64 KB: a longer mutation goes into a WebP
    im.save(buf, "JPEG" if container == "jpeg" else "WEBP", exif=exif)
    return buf.getvalue()


# -- one recipe per importer ------------------------------------------------------------------
INFOTEXT = ("photo of a duck, <lora:duck:0.8>\nNegative prompt: monochrome\n"
            "Steps: 15, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5, Seed: 235284042, Size: 512x400, "
            'Model hash: c0d1994c73, Model: realistic, Lora hashes: "duck: 0123456789ab", '
            'Hashes: {"model": "c0d1994c73"}, Version: v1.9.4')
COMFY_GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 8, "sampler_name": "euler",
                                                 "scheduler": "normal", "denoise": 1, "model": ["4", 0],
                                                 "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}},
}
_J = json.dumps

RECIPES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "a1111": ("png", [("parameters", INFOTEXT)]),
    "a1111-jpeg": ("jpeg", [("UserComment", INFOTEXT)]),
    "comfyui": ("png", [("prompt", _J(COMFY_GRAPH))]),
    "swarmui": ("png", [("parameters", _J({
        "sui_image_params": {"prompt": "a cat", "negativeprompt": "dog", "model": "sdxl", "seed": 7, "steps": 20,
                             "cfgscale": 7.5, "width": 1024, "height": 1024, "sampler": "euler", "scheduler": "karras",
                             "loras": ["detail", "style"], "loraweights": [0.5, 1], "clipstopatlayer": -2,
                             "swarm_version": "0.9.5", "refinerupscale": 1.5},
        "sui_extra_data": {"date": "2025-01-01"},
        "sui_models": [{"name": "sdxl.safetensors", "param": "model", "hash": "0x1234567890abcdef"}]}))]),
    "swarmui-webp": ("webp", [("UserComment", _J({"sui_image_params": {"prompt": "a", "seed": 1, "steps": 4,
                                                                      "loras": ["l"], "loraweights": ["0.7"]}}))]),
    "stability_matrix": ("png", [("parameters-json", _J({
        "PositivePrompt": "a cat", "NegativePrompt": "dog", "Steps": 20, "CfgScale": 7, "Seed": 5, "Width": 512,
        "Height": 512, "ModelName": "m", "ModelHash": "ab" * 32, "Sampler": "Euler a"})), ("smproj", "{}")]),
    "tensorart": ("png", [("generation_data", _J({
        "prompt": "a cat", "negativePrompt": "dog", "width": 512, "height": 768, "steps": 25, "seed": -1,
        "cfgScale": 7, "ksamplerName": "euler", "schedule": "karras", "clipSkip": 2, "etaNoiseSeedDelta": 31337,
        "guidance": 3.5, "baseModel": {"modelFileName": "m.safetensors", "hash": "cd" * 32}})),
        ("prompt", _J(COMFY_GRAPH))]),
    "novelai": ("png", [("Software", "NovelAI"), ("Source", "Stable Diffusion XL C1E1DE52"),
                        ("Description", "a cat"), ("Comment", _J({
                            "prompt": "a cat", "uc": "dog", "steps": 28, "scale": 5, "seed": 9, "width": 832,
                            "height": 1216, "sampler": "k_euler_ancestral", "noise_schedule": "native",
                            "sm": False, "cfg_rescale": 0, "signed_hash": "x",
                            "v4_prompt": {"caption": {"base_caption": "a cat", "char_captions": [
                                {"char_caption": "girl", "centers": [{"x": 0.5, "y": 0.5}]}]}}}))]),
    "novelai-webp": ("webp", [("UserComment", _J({"Software": "NovelAI", "Comment": _J({"prompt": "a", "uc": "b",
                                                                                          "steps": 28, "seed": 1})}))]),
    "invokeai": ("png", [("invokeai_metadata", _J({
        "positive_prompt": "a cat", "negative_prompt": "dog", "seed": 3, "steps": 30, "cfg_scale": 7.5,
        "width": 512, "height": 512, "scheduler": "euler", "model": {"model_name": "sd-1.5", "hash": "ef" * 32},
        "loras": [{"lora": {"model_name": "x"}, "weight": 0.75}], "app_version": "3.0.0"}))]),
    "invokeai2": ("png", [("sd-metadata", _J({
        "model": "stable diffusion", "model_weights": "sd-1.5", "model_hash": "ab" * 32, "app_version": "2.3.0",
        "image": {"prompt": [{"prompt": "a cat [dog]", "weight": 1}], "steps": 50, "cfg_scale": 7.5, "seed": 1,
                  "width": 512, "height": 768, "sampler": "k_lms", "postprocessing": None, "type": "txt2img"}}))]),
    "dream": ("png", [("Dream", '"a cat [dog]" -s 50 -S 2980747362 -W 512 -H 768 -C 5 -A k_lms -G 0.5 -U 2 0.7')]),
    "fooocus": ("png", [("fooocus_scheme", "fooocus"), ("parameters", _J({
        "prompt": "a fish", "negative_prompt": "", "full_prompt": ["cinematic a fish"], "steps": 30,
        "guidance_scale": 4, "seed": "69524115", "resolution": "(768, 1280)", "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras", "base_model": "juggernautXL.safetensors", "base_model_hash": "aeb7e9e689",
        "loras": [["sdxl_offset.safetensors : 0.1", "hash"]], "clip_skip": 2, "sharpness": 2,
        "version": "Fooocus v2.5.0"}))]),
    "ruinedfooocus": ("png", [("parameters", _J({
        "Prompt": "a fish", "Negative": "", "steps": 30, "cfg": 4, "seed": 1, "width": 1024, "height": 1024,
        "sampler_name": "dpmpp_2m", "scheduler": "karras", "base_model_name": "m.safetensors",
        "loras": [["l", 0.5]], "software": "RuinedFooocus"}))]),
    "drawthings": ("jpeg", [("Software", "Draw Things"), ("ImageDescription", INFOTEXT), ("UserComment", _J({
        "c": "a cat", "uc": "dog", "seed": 1, "steps": 20, "scale": 7, "size": "512x512", "sampler": "Euler a",
        "model": "sd_v1.5_f16.ckpt", "clip_skip": 2, "strength": 0.8, "seed_mode": "Scale Alike",
        "lora": [{"file": "lora_f16.ckpt", "weight": 0.6}],
        "control": [{"file": "canny.ckpt", "weight": 1, "guidance_start": 0, "guidance_end": 1, "no_prompt": True}],
        "hires_fix": True, "second_stage_strength": 0.7, "v2": {"seed": 1}}))]),
    "drawthings-xmp": ("png", [("XML:com.adobe.xmp",
                                '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
                                '<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
                                '{&quot;c&quot;:&quot;a cat&quot;,&quot;seed&quot;:1,&quot;steps&quot;:8,'
                                '&quot;v2&quot;:{}}</rdf:li></rdf:Alt></exif:UserComment>'
                                '<dc:description>a cat</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>'),
                               ("Software", "Draw Things")]),
    "paddlenlp": ("png", [("Software", "PaddleNLP"), ("parameters",
                  "a cat\nNegative prompt: dog\nSteps: 50\nCFG scale: 7.5\nSeed: 1\nwidth: 512\nheight: 512\n"
                  "Sampler: DDIM\nmodel_name: runwayml/stable-diffusion-v1-5\neta: 0.5\nepoch_time: 1\n"
                  "superres_model_name: 无")]),
    "diffusers": ("png", [("parameters", _J({
        "prompt": "a cat", "negative_prompt": "dog", "num_inference_steps": 28, "guidance_scale": 7, "seed": 1,
        "resolution": "832 x 1216", "sampler": "Euler a", "Model": "animagine-xl", "Model hash": "abcdef1234",
        "use_upscaler": None}))]),
}


def recipes() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """The hand-written recipes plus one per fixture image (its own text fields)."""
    out = dict(RECIPES)
    from aigif.importers.containers import read_container

    for name, data in fixture_images():
        try:
            c = read_container(data)
        except Exception:  # noqa: BLE001 - a fixture the reader refuses is simply not a recipe
            continue
        fields = [(f.key, f.value) for f in c.fields if len(f.value) <= 64 * 1024]
        if fields:
            kind = "png" if c.format == "PNG" else "jpeg"
            if kind == "jpeg":
                fields = [(k, v) for k, v in fields if k in ("UserComment", "Software", "ImageDescription", "MakerNote")]
            if fields:
                out["fixture:" + name] = (kind, fields)
    return out


def image_seeds() -> list[bytes]:
    """Whole images for byte- and chunk-level mutation: the fixtures plus one built per recipe."""
    out = [d for _, d in fixture_images() if len(d) <= MAX_SEED_BYTES]
    out += [build_image(*RECIPES[k]) for k in sorted(RECIPES)]
    return out
