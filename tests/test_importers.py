"""Importers: real images from the tools people use -> the AIGIF JSON form.

Expected values are literals read by hand from the images' metadata (the shared data
set's metadata_full.jsonl), never produced by the importer.  The MIT-licensed fixtures
in tests/fixtures/aigc always run; the other real images need the shared data set."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest

from aigif import errors
from aigif.importers import import_image
from aigif.registry import get_registry

try:  # tests/ is a package in the lead's layout, a rootdir in others
    from .conftest import shared
except ImportError:
    from conftest import shared

FIX = Path(__file__).resolve().parent / "fixtures" / "aigc"


def sched(tool, sampler, schedule=None):
    entry = get_registry().scheduler_from_tool(tool, sampler, schedule)
    assert entry is not None, f"registry has no {tool} alias for {sampler!r}/{schedule!r}"
    return entry


def same_scheduler(name, tool, sampler, schedule=None):
    assert get_registry().find_scheduler(name) is sched(tool, sampler, schedule)


def model(result):
    m = result.syntax["model"]
    return (m["name"], m.get("fingerprint")) if isinstance(m, dict) else (m, None)


# -- A1111 family, always-run fixtures ------------------------------------------------
DUCK = dict(prompt="photo of a duck", negative_prompt="monochrome", steps=15, guidance=5, seed=235284042, width=512, height=400)


@pytest.mark.parametrize("name", ["01_a1111_cropped.png", "02_a1111_cropped.jpg", "04_a1111_ztxt_after_idat.png"])
def test_a1111_duck_in_png_jpeg_and_ztxt_after_idat(name):
    r = import_image(FIX / name)
    assert r.tool == "a1111"
    for k, v in DUCK.items():
        assert r.syntax[k] == v, k
    same_scheduler(r.syntax["scheduler"], "a1111", "UniPC")
    assert model(r) == ("realistic_realisticVisionV20_v20", "c0d1994c73")
    assert r.unmapped == []
    assert r.metadata_bytes >= 180  # the infotext alone is 180 characters


def test_a1111_stealth_pnginfo_alpha_lsb():
    r = import_image(FIX / "03_a1111_stealth_pnginfo.png")
    s = r.syntax
    assert (s["prompt"], s["negative_prompt"], s["steps"], s["guidance"], s["seed"]) == ("a circle", "a square", 20, 7, 2015833630)
    assert (s["width"], s["height"]) == (64, 64)
    assert s["extensions"]["clip_skip"] == 2
    assert model(r) == ("realisticVisionV51_v51VAE", "15012c538f")
    same_scheduler(s["scheduler"], "a1111", "Euler", "Automatic")
    assert s["extensions"]["source"]["version"] == "v1.9.4-169-ga30b19dd"


def test_a1111_webp_utf16_usercomment_keeps_prompt_bytes():
    r = import_image(FIX / "39_a1111_webui.webp")
    s = r.syntax
    assert s["prompt"] == "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, テスト\n"
    assert s["negative_prompt"] == "bad quality, worst quality, worst detail, sketch, censor, \n"
    assert (s["steps"], s["guidance"], s["seed"], s["width"], s["height"]) == (20, 5.5, 1028435836, 1024, 1024)
    same_scheduler(s["scheduler"], "a1111", "DPM++ 2M", "Karras")
    assert model(r) == ("waiIllustriousSDXL_v160", "45a21ea00a")


# -- other tools, always-run fixtures ---------------------------------------------------
def test_comfyui_img2img_graph():
    r = import_image(FIX / "05_comfyui_img2img_cropped.png")
    s = r.syntax
    assert r.tool == "comfyui"
    assert s["prompt"] == "photograph of victorian woman with wings, sky clouds, meadow grass\n"
    assert s["negative_prompt"] == "watermark, text\n"
    assert (s["seed"], s["steps"], s["guidance"]) == (280823642470253, 20, 8)
    assert s["model"] == "v1-5-pruned-emaonly"
    assert s["extensions"]["img2img"]["strength"] == pytest.approx(0.87)
    assert any("example.png" in u for u in r.unmapped)  # the init image is not embedded: reported


def test_fooocus_json():
    r = import_image(FIX / "07_fooocus_cropped.png")
    s = r.syntax
    assert (s["prompt"], s["negative_prompt"], s["seed"], s["steps"], s["guidance"]) == (
        "a smiling goldfish", "", 6952411511246973023, 30, 4)
    assert (s["width"], s["height"]) == (768, 1280)
    assert model(r) == ("juggernautXL_v8Rundiffusion", "aeb7e9e689")
    assert s["extensions"]["clip_skip"] == 2
    # Fooocus conditions on its style-expanded prompt: kept verbatim, reported
    assert s["extensions"]["unmapped"]["full_prompt"][0].startswith("cinematic still a smiling goldfish")
    assert any(u.startswith("sharpness") for u in r.unmapped)


INVOKE2_PROMPT_START = "professional full body photo of young woman, hyper long brunette hair"


def test_invokeai2_dream_line():
    r = import_image(FIX / "08_invokeai2_dream.png")
    s = r.syntax
    assert s["prompt"].startswith(INVOKE2_PROMPT_START) and s["prompt"].endswith("film grain, low contrast")
    assert s["negative_prompt"] == "rendering, glowing eyes, skinny"
    assert (s["steps"], s["seed"], s["width"], s["height"], s["guidance"]) == (50, 2980747362, 512, 768, 5)
    same_scheduler(s["scheduler"], "invokeai", "lms")
    assert any(u.startswith("gfpgan_strength") for u in r.unmapped)
    assert s["model"] == "unknown"  # dream.py does not record the model


def test_invokeai23_sd_metadata():
    r = import_image(FIX / "09_invokeai23_sdmetadata.png")
    s = r.syntax
    assert r.tool == "invokeai"
    assert s["prompt"].startswith(INVOKE2_PROMPT_START)
    assert s["negative_prompt"] == "rendering, glowing eyes, skinny"
    assert (s["steps"], s["seed"], s["guidance"], s["width"], s["height"]) == (50, 2980747362, 5, 512, 768)
    assert model(r) == ("deliberateForInvoke_v08", "56d1442a0f")
    assert s["extensions"]["source"]["version"] == "2.3.0"
    assert any(u.startswith("postprocessing") for u in r.unmapped)


def test_invokeai3_metadata_with_ip_adapter():
    r = import_image(FIX / "10_invokeai3_metadata.png")
    s = r.syntax
    assert s["prompt"] == "digital artwork, oil painting. painterly brushstrokes, holidays,"
    assert s["negative_prompt"].startswith("grainy+, photo, oversaturated")
    assert (s["width"], s["height"], s["seed"], s["guidance"], s["steps"]) == (1024, 1024, 3293022630, 8, 35)
    assert s["model"] == "juggernautXL"
    same_scheduler(s["scheduler"], "invokeai", "euler")
    assert s["extensions"]["ip_adapter"] == [{"model": "ip-adapter-plus_sdxl_vit-h", "weight": 0.45}]
    assert s["extensions"]["vae"] == {"name": "VAEFix"}
    assert s["extensions"]["rng"] == {"source": "cpu"}


def test_novelai_legacy_comment():
    r = import_image(FIX / "11_novelai_legacy_cropped.png")
    s = r.syntax
    assert s["prompt"] == "masterpiece, best quality,  cat, space, icon"
    assert s["negative_prompt"].startswith("lowres, bad anatomy, bad hands, text, error")
    assert (s["steps"], s["seed"], s["guidance"]) == (50, 2253955223, 10)
    same_scheduler(s["scheduler"], "novelai", "k_euler_ancestral")
    assert model(r) == ("Stable Diffusion", "1d44365e")
    assert {"strength", "noise"} <= set(s["extensions"]["unmapped"])
    assert "width" not in s  # a 1x1 crop: the size is not invented from the pixels


def test_novelai_legacy_full_size_from_pixels():
    r = import_image(FIX / "52_novelai_legacy_full.png")
    s = r.syntax
    assert (s["seed"], s["steps"], s["guidance"]) == (1138862044, 20, 12)
    assert model(r) == ("Stable Diffusion", "addb53af")
    assert (s["width"], s["height"]) == (768, 256)
    assert any("taken from the image" in w for w in r.warnings)


def test_import_from_bytes_equals_import_from_path():
    a = import_image(FIX / "01_a1111_cropped.png")
    b = import_image((FIX / "01_a1111_cropped.png").read_bytes())
    assert a.syntax == b.syntax and a.tool == b.tool


def test_every_fixture_syntax_is_valid_and_encodes():
    import aigif

    for f in sorted(FIX.glob("*.*")):
        if f.suffix == ".md":
            continue
        r = import_image(f)
        s = aigif.Syntax.from_dict(r.syntax)
        assert aigif.decode(aigif.encode(s)).prompt == s.prompt


# -- real images from the shared data set ----------------------------------------------------
WAI = "waiIllustriousSDXL_v160"
MIKU = "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, "
NEG = "bad quality, worst quality, worst detail, sketch, censor, "
# file -> expected (tool, prompt, negative, seed, steps, guidance, w, h, (tool, sampler, schedule), model name, fingerprint)
CASES = {
    "12_comfyui_basic.png": ("comfyui", MIKU.replace("miku, ", "miku, テスト, "), NEG + "\n", 422847914351919, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, None),
    "13_comfyui_hires.png": ("comfyui", MIKU, NEG + "\n", 1116526567339338, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, None),
    "14_comfyui_comfy_image_saver.png": ("comfyui", MIKU, NEG + "\n", 106744160813738, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, None),
    "15_comfyui_saveimagewithmetadata.png": ("comfyui", MIKU, NEG + "\n", 38802053347333, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, None),
    "16_forge.png": ("forge", MIKU[:-2] + ", テスト", NEG[:-1], 747066619, 25, 5, 1024, 1024, ("a1111", "Euler", "Karras"), WAI, "45a21ea00a"),
    "17_forge_classic_ascii.png": ("forge", MIKU, NEG, 1239240392, 20, 6, 1024, 1024, ("a1111", "DPM++ 2M", "Karras"), WAI, "45a21ea00a"),
    "19_sdnext.png": ("sdnext", MIKU + "#テスト\n", NEG + "\n", 2427651458, 20, 6, 1024, 1024, ("a1111", "DDIM", None), WAI, "45a21ea00a"),
    "20_a1111_webui.png": ("a1111", MIKU + "テスト\n", NEG + "\n", 3782896554, 20, 7, 1024, 1024, ("a1111", "DPM++ 2M", "Karras"), WAI, "45a21ea00a"),
    "21_invokeai5_itxt.png": ("invokeai", MIKU + "#テスト\n", NEG + "\n", 3951921344, 24, 6, 1024, 1024, ("invokeai", "euler_a", None), WAI, "7c1631b481"),
    "23_novelai_v45_full.png": ("novelai", "1girl, solo, hatsune miku, #テスト, very aesthetic, masterpiece, no text", None, 2043807047, 28, 5, 832, 1216, ("novelai", "k_euler_ancestral", "karras"), "NovelAI Diffusion V4.5", "4bde2a90"),
    "25_ruined_fooocus.png": ("ruinedfooocus", MIKU + "#テスト", NEG, 2020047614, 30, 8, 1024, 1024, None, "waiNSFWIllustrious_v150", "befc694a29"),
    "26_stability_matrix.png": ("stability-matrix", MIKU.replace("\n", "\r\n"), NEG + "\r\n", 395309383, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, "a5f58eb1c3"),
    "27_swarmui.png": ("swarmui", MIKU + "#テスト", NEG, 2083100758, 20, 7, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, "22d8cb95b8"),
    "28_tensorart.png": ("tensorart", MIKU + "#テスト", NEG[:-2], 3036459311, 25, 7, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), "WAI-Nsfw-Illustrious-16", "a5f58eb1c3"),
    "29_hf_space_animagine.png": ("diffusers", MIKU + "テスト", NEG + "\n", 443800072, 24, 5.5, 1024, 1024, ("a1111", "DPM++ 2M Karras", None), "WAI NSFW illustrious SDXL v16", "bdb59bac77"),
    "32_a1111_webui.jpg": ("a1111", MIKU + "テスト\n", NEG + "\n", 3623174757, 20, 5.5, 1024, 1024, ("a1111", "DPM++ 2M", "Karras"), WAI, "45a21ea00a"),
    "34_civitai_generator.jpeg": ("civitai", MIKU + "#テスト", NEG + "\n", 1311178179, 25, 5, 1024, 1024, ("a1111", "Euler a", None), "WAI-illustrious-SDXL v16.0", None),
    "36_comfyui_saveimage_plus.jpg": ("comfyui", MIKU, NEG + "\n", 577723948579568, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, None),
    "40_novelai_v45_curated.webp": ("novelai", "1girl, solo, hatsune miku, #テスト, very aesthetic, masterpiece, no text, -0.8::feet::, rating:general", None, 880673757, 23, 5, 1024, 1024, ("novelai", "k_euler_ancestral", "karras"), "NovelAI Diffusion V4.5", "c02d4f98"),
    "41_swarmui.webp": ("swarmui", MIKU + "#テスト", NEG, 830680752, 20, 7, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, "22d8cb95b8"),
    "42_comfyui_saveanimatedwebp.webp": ("comfyui", MIKU + "テスト, ", NEG + "\n", 270932924124066, 20, 5, 1024, 1024, ("comfyui", "euler_ancestral", "karras"), WAI, None),
    "45_comfyui_sdxl_refiner.png": ("comfyui", "evening sunset scenery blue sky nature, glass bottle with a galaxy in it", "text, watermark", 721897303308196, 25, 8, 1024, 1024, ("comfyui", "euler", "normal"), "sd_xl_base_1.0", None),
    "47_comfyui_sd35.png": ("comfyui", None, "", 585483408983215, 20, 4.01, 1024, 1024, ("comfyui", "euler", "sgm_uniform"), "sd3.5_large_fp8_scaled", None),
    "48_comfyui_qwen_image.png": ("comfyui", None, " ", 1091359629774730, 20, 2.5, 1328, 1328, None, "qwen_image_fp8_e4m3fn", None),
    "49_comfyui_wan_t2v_animated.webp": ("comfyui", "a fox moving quickly in a beautiful winter scenery nature trees mountains daytime tracking camera", None, 82628696717253, 30, 6, 832, 480, None, "wan2.1_t2v_1.3B_fp16", None),
    "50_paddlenlp_ppdiffusers_itxt.png": ("paddlenlp", None, None, 2632139819, 64, 7, 512, 1024, ("a1111", "DDIM", None), "anything-v3.0", None),
    "53_a1111_2022_with_extras.png": ("a1111", None, None, 2738790710, 15, 7, 832, 1280, ("a1111", "DPM++ 2M Karras", None), "unknown", "a3cf2582"),
    "55_lstein_dream_full.png": ("dream", "a giraffe with a very long neck", None, 3463495068, 50, 7.5, 512, 512, ("invokeai", "lms", None), "unknown", None),
    "57_comfyui_a1111style_png_named.jpeg": ("comfyui", None, "", 934100943193926, 20, 3.5, 896, 1152, ("a1111", "Euler", None), "flux1-dev-fp8", "8e91b68084"),
    "59_drawthings_controlnet_upscale.jpg": ("drawthings", "masterpiece, best quality, highres", "", 2446039368, 8, 7.5, 2048, 2048, None, "juggernaut_reborn_q6p_q8p", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_image_core_fields(name):
    path = shared("aigc-images", name)
    tool, prompt, neg, seed, steps, guidance, w, h, sampler, mname, fp = CASES[name]
    r = import_image(path)
    s = r.syntax
    assert r.tool == tool
    if prompt is not None:
        assert s["prompt"] == prompt
    if neg is not None:
        assert s["negative_prompt"] == neg
    assert (s["seed"], s["steps"], s["guidance"], s["width"], s["height"]) == (seed, steps, pytest.approx(guidance), w, h)
    if sampler is not None:
        same_scheduler(s["scheduler"], *sampler)
    assert model(r) == (mname, fp)


def test_comfyui_hires_pass_and_clip_skip():
    s = import_image(shared("aigc-images", "13_comfyui_hires.png")).syntax
    ext = s["extensions"]
    assert ext["clip_skip"] == 2
    assert ext["hires"] == {"steps": 10, "denoise": 0.3, "width": 1536, "height": 1536, "upscaler": "RealESRGAN_x4plus_anime_6B"}
    assert ext["unmapped"]["hires.seed"] == 204096574905147  # the 2nd pass's own seed is reported


def test_comfyui_sdxl_refiner():
    ext = import_image(shared("aigc-images", "45_comfyui_sdxl_refiner.png")).syntax["extensions"]
    assert ext["refiner"] == {"model": "sd_xl_refiner_1.0", "switch_at": 0.8}  # end_at_step 20 of 25


def test_comfyui_model_sampling_shift_and_text_encoder():
    r = import_image(shared("aigc-images", "48_comfyui_qwen_image.png"))
    assert r.syntax["extensions"]["pipeline_args"]["shift"] == pytest.approx(3.1)
    assert r.syntax["extensions"]["unmapped"]["text_encoder"] == "qwen_2.5_vl_7b_fp8_scaled"


def test_comfyui_workflow_only_imports_what_the_ui_holds():
    r = import_image(shared("aigc-images", "58_comfyui_workflow_only.png"))
    s = r.syntax
    assert r.tool == "comfyui"
    assert (s["width"], s["height"]) == (512, 512)
    assert s["seed"] == 230662586134329  # the KSamplerAdvanced widget
    assert any("widget" in w for w in r.warnings)
    assert "node 2 SDParameterGenerator" in s["extensions"]["unmapped"]


def test_stability_matrix_mojibake_repaired():
    r = import_image(shared("aigc-images", "26_stability_matrix.png"))
    assert any("mojibake" in w for w in r.warnings)
    assert "テスト" not in r.syntax["prompt"]  # the graph that ran has no テスト (the UI text does)
    from aigif.importers.containers import read_container

    c = read_container(shared("aigc-images", "26_stability_matrix.png").read_bytes())
    assert "#テスト" in c.get("parameters")


def test_tensorart_seed_from_graph_and_ensd():
    ext = import_image(shared("aigc-images", "28_tensorart.png")).syntax["extensions"]
    assert ext["rng"] == {"ensd": 31337}
    assert ext["clip_skip"] == 2


def test_civitai_resources_kept():
    r = import_image(shared("aigc-images", "34_civitai_generator.jpeg"))
    res = r.syntax["extensions"]["unmapped"]["Civitai resources"]
    assert res[0]["modelVersionId"] == 2514310
    assert r.syntax["extensions"]["clip_skip"] == 2


def test_novelai_v45_unicode_and_extras():
    r = import_image(shared("aigc-images", "23_novelai_v45_full.png"))
    s = r.syntax
    assert s["negative_prompt"].startswith("nsfw, lowres, artistic error")
    assert s["extensions"]["unmapped"]["skip_cfg_above_sigma"] == 58.0
    assert "signed_hash" not in s["extensions"]["unmapped"]


def test_drawthings_loras_controlnet():
    ext = import_image(shared("aigc-images", "59_drawthings_controlnet_upscale.jpg")).syntax["extensions"]
    assert [lo["name"] for lo in ext["lora"]] == [
        "add_more_details__detail_enhancer___tweaker__lora_f16", "sdxl_render_v2.0_lora_f16", "tcd_sd_v1.5_lora_f16"]
    assert ext["lora"][0]["weight"] == pytest.approx(0.6)
    assert ext["controlnet"] == [{"model": "controlnet_tile_1.x_v1.1_f16", "weight": 0.5, "start": 0, "end": 1}]
    assert ext["clip_skip"] == 2
    assert ext["img2img"]["strength"] == pytest.approx(0.4)


def test_a1111_2022_double_negative_and_extras_chunk():
    r = import_image(shared("aigc-images", "53_a1111_2022_with_extras.png"))
    s = r.syntax
    assert s["negative_prompt"].startswith("Negative prompt: lowres")  # as A1111 wrote it
    assert s["extensions"]["rng"] == {"ensd": 31337}
    assert s["extensions"]["img2img"] == {"strength": 0.65}
    assert s["extensions"]["unmapped"]["Mask blur"] == "1"
    assert s["extensions"]["unmapped"]["extras"].startswith("Upscale: 1.5")


@pytest.mark.parametrize("name", ["30_negative_gimp_resaved.png", "31_negative_empty.png", "43_c2pa_chatgpt.png"])
def test_negative_controls(name):
    with pytest.raises(errors.NoGenerationMetadata) as e:
        import_image(shared("aigc-images", name))
    assert e.value.exit_status == errors.ExitStatus.NO_METADATA
    if name.startswith("43"):
        assert "C2PA" in str(e.value)


def test_every_shared_image_with_metadata_imports():
    manifest = json.loads(shared("aigc-images", "manifest.json").read_text())
    negatives = {"30_negative_gimp_resaved.png", "31_negative_empty.png", "43_c2pa_chatgpt.png"}
    for entry in manifest["files"]:
        path = shared("aigc-images") / entry["file"]
        if not path.exists() or entry["file"] in negatives:
            continue
        r = import_image(path)
        assert r.syntax.get("prompt") is not None or r.syntax.get("seed") is not None, entry["file"]


# -- no metadata, robustness ---------------------------------------------------------------
def _clean_png(mode="RGB", size=(16, 16)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30) if mode == "RGB" else (10, 20, 30, 255)).save(buf, "PNG")
    return buf.getvalue()


def _chunk(ctype: bytes, body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return struct.pack(">I", n) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _with_chunk(png: bytes, chunk: bytes) -> bytes:
    return png[:33] + chunk + png[33:]  # right after IHDR (8 + 25 bytes)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_plain_png_has_no_metadata(mode):
    with pytest.raises(errors.NoGenerationMetadata):
        import_image(_clean_png(mode))


def test_not_an_image():
    with pytest.raises(errors.FormatError):
        import_image(b"GIF89a not supported")
    with pytest.raises(errors.FormatError):
        import_image(Path("/nonexistent/file.png"))


def test_ztxt_bomb_is_a_limit_error():
    bomb = zlib.compress(b"A" * (4 << 20), 9)
    png = _with_chunk(_clean_png(), _chunk(b"zTXt", b"parameters\0\0" + bomb))
    with pytest.raises(errors.LimitExceeded):
        import_image(png)


def test_hostile_chunk_length_ends_the_walk_quietly():
    png = _with_chunk(_clean_png(), _chunk(b"tEXt", b"parameters\0x", length=0xFFFFFFF0))
    with pytest.raises(errors.NoGenerationMetadata):
        import_image(png)


def test_text_after_truncation_point_and_before_it():
    base = (FIX / "01_a1111_cropped.png").read_bytes()
    r = import_image(base[: base.index(b"IEND") - 4])  # IEND cut off: the text chunk is still there
    assert r.syntax["seed"] == 235284042
    assert any("truncated" in w or "ends" in w for w in r.warnings)


def test_exif_ifd_loop_and_huge_counts():
    # IFD0 whose "next IFD" points back to itself, plus an entry claiming 2^32-1 ASCII bytes
    ifd = struct.pack("<H", 2)
    ifd += struct.pack("<HHII", 0x010E, 2, 0xFFFFFFFF, 8)
    ifd += struct.pack("<HHII", 0x9286, 7, 0x7FFFFFFF, 8)
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 8)
    jpeg = b"\xff\xd8" + b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\0\0" + tiff + b"\xff\xd9"
    with pytest.raises(errors.NoGenerationMetadata):
        import_image(jpeg)


def test_stealth_length_over_limit():
    from PIL import Image

    bits = "".join(f"{b:08b}" for b in b"stealth_pnginfo") + f"{0xFFFFFFF0:032b}"
    w, h = 8, 32
    im = Image.new("RGBA", (w, h), (1, 2, 3, 254))
    px = im.load()
    for i, bit in enumerate(bits):
        x, y = divmod(i, h)  # column-major
        px[x, y] = (1, 2, 3, 254 | int(bit))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    with pytest.raises(errors.LimitExceeded):
        import_image(buf.getvalue())


@pytest.mark.parametrize("name", [f.name for f in sorted(FIX.glob("*.*")) if f.suffix != ".md"])
def test_truncated_and_corrupted_fixtures_raise_only_aigif_errors(name):
    import random

    data = (FIX / name).read_bytes()
    rnd = random.Random(name)  # deterministic per file
    cuts = sorted({rnd.randrange(1, len(data)) for _ in range(12)} | {1, 8, 20, len(data) // 2})
    variants = [data[:c] for c in cuts]
    for _ in range(12):
        b = bytearray(data)
        for _ in range(4):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        variants.append(bytes(b))
    for v in variants:
        try:
            import_image(v)
        except errors.AigifError:
            pass


# -- CLI: batch, --strict, --keep-pixels -------------------------------------------------
def test_cli_batch_summary_and_exit_status(tmp_path, capsys):
    from aigif.cli.main import main

    src = tmp_path / "in"
    src.mkdir()
    for name in ("01_a1111_cropped.png", "07_fooocus_cropped.png"):
        (src / name).write_bytes((FIX / name).read_bytes())
    (src / "plain.png").write_bytes(_clean_png())
    out = tmp_path / "out"
    rc = main(["import", str(src), "-o", str(out), "-j", "2"])
    err = capsys.readouterr().err
    assert rc == errors.ExitStatus.NO_METADATA  # the plain PNG
    assert "3 files: 1 imported, 1 partial" in err and "1 without metadata" in err
    assert sorted(p.name for p in out.iterdir()) == ["01_a1111_cropped.aigif", "07_fooocus_cropped.aigif"]


def test_cli_strict_refuses_partial(tmp_path):
    from aigif.cli.main import main

    out = tmp_path / "x.aigif"
    assert main(["import", str(FIX / "07_fooocus_cropped.png"), "-o", str(out), "--strict"]) == errors.ExitStatus.UNSUPPORTED
    assert not out.exists()
    assert main(["import", str(FIX / "01_a1111_cropped.png"), "-o", str(out), "--strict"]) == 0
    assert out.exists()


def test_cli_no_metadata_single_file(tmp_path):
    from aigif.cli.main import main

    p = tmp_path / "plain.png"
    p.write_bytes(_clean_png())
    assert main(["import", str(p), "-o", str(tmp_path / "o.aigif")]) == errors.ExitStatus.NO_METADATA


def test_cli_keep_pixels_stores_the_original_file(tmp_path):
    import aigif
    from aigif.cli.main import main

    src = FIX / "39_a1111_webui.webp"
    out = tmp_path / "k.aigif"
    assert main(["import", str(src), "-o", str(out), "--keep-pixels"]) == 0
    s = aigif.read(out)
    kept = [p for p in s.payloads if p.kind == "pixels"]
    assert len(kept) == 1 and kept[0].codec_id == 6 and kept[0].data == src.read_bytes()
    assert s.seed == 1028435836
