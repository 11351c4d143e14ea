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

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "aigc"


def sched(tool, sampler, schedule=None):
    entry = get_registry().scheduler_from_tool(tool, sampler, schedule)
    assert entry is not None, f"registry has no {tool} alias for {sampler!r}/{schedule!r}"
    return entry


def same_scheduler(name, tool, sampler, schedule=None):
    assert get_registry().find_scheduler(name) is sched(tool, sampler, schedule)


def model(result):
    m = result.syntax["model"]
    return (m["name"], m.get("fingerprint")) if isinstance(m, dict) else (m, None)


def expect_model(result, name, fingerprint):
    """The file names the model `name` (hash `fingerprint`): a registered model must come
    out under its registry name, an unregistered one inline with its hash."""
    reg = get_registry()
    entry = (fingerprint and reg.model_by_fingerprint(fingerprint)) or reg.find_model(name)
    got = model(result)
    if entry is None:
        assert got == (name, fingerprint)
    else:
        assert got[0] == entry.name and got[1] in (None, fingerprint)


def expect_name(value, name):
    entry = get_registry().find_model(name)
    assert value == (entry.name if entry else name)


# -- A1111 family, always-run fixtures ------------------------------------------------
DUCK = dict(prompt="photo of a duck", negative_prompt="monochrome", steps=15, guidance=5, seed=235284042, width=512, height=400)


@pytest.mark.parametrize("name", ["01_a1111_cropped.png", "02_a1111_cropped.jpg", "04_a1111_ztxt_after_idat.png"])
def test_a1111_duck_in_png_jpeg_and_ztxt_after_idat(name):
    r = import_image(FIX / name)
    assert r.tool == "a1111"
    for k, v in DUCK.items():
        assert r.syntax[k] == v, k
    same_scheduler(r.syntax["scheduler"], "a1111", "UniPC")
    expect_model(r, "realistic_realisticVisionV20_v20", "c0d1994c73")
    assert r.unmapped == []
    assert r.metadata_bytes >= 180  # the infotext alone is 180 characters


def test_a1111_stealth_pnginfo_alpha_lsb():
    r = import_image(FIX / "03_a1111_stealth_pnginfo.png")
    s = r.syntax
    assert (s["prompt"], s["negative_prompt"], s["steps"], s["guidance"], s["seed"]) == ("a circle", "a square", 20, 7, 2015833630)
    assert (s["width"], s["height"]) == (64, 64)
    assert s["extensions"]["clip_skip"] == 2
    expect_model(r, "realisticVisionV51_v51VAE", "15012c538f")
    same_scheduler(s["scheduler"], "a1111", "Euler", "Automatic")
    # the Version selects A1111's back-compat behaviours: semantics, written once (spec §7.1.1)
    assert s["extensions"]["semantics"]["version"] == "v1.9.4-169-ga30b19dd"
    assert "version" not in s["extensions"]["source"]


def test_a1111_webp_utf16_usercomment_keeps_prompt_bytes():
    r = import_image(FIX / "39_a1111_webui.webp")
    s = r.syntax
    assert s["prompt"] == "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, テスト\n"
    assert s["negative_prompt"] == "bad quality, worst quality, worst detail, sketch, censor, \n"
    assert (s["steps"], s["guidance"], s["seed"], s["width"], s["height"]) == (20, 5.5, 1028435836, 1024, 1024)
    same_scheduler(s["scheduler"], "a1111", "DPM++ 2M", "Karras")
    expect_model(r, "waiIllustriousSDXL_v160", "45a21ea00a")


# -- other tools, always-run fixtures ---------------------------------------------------
def test_comfyui_img2img_graph():
    r = import_image(FIX / "05_comfyui_img2img_cropped.png")
    s = r.syntax
    assert r.tool == "comfyui"
    assert s["prompt"] == "photograph of victorian woman with wings, sky clouds, meadow grass\n"
    assert s["negative_prompt"] == "watermark, text\n"
    assert (s["seed"], s["steps"], s["guidance"]) == (280823642470253, 20, 8)
    expect_name(s["model"], "v1-5-pruned-emaonly")
    assert s["extensions"]["img2img"]["strength"] == pytest.approx(0.87)
    assert any("example.png" in u for u in r.unmapped)  # the init image is not embedded: reported


def test_fooocus_json():
    r = import_image(FIX / "07_fooocus_cropped.png")
    s = r.syntax
    assert (s["prompt"], s["negative_prompt"], s["seed"], s["steps"], s["guidance"]) == (
        "a smiling goldfish", "", 6952411511246973023, 30, 4)
    assert (s["width"], s["height"]) == (768, 1280)
    expect_model(r, "juggernautXL_v8Rundiffusion", "aeb7e9e689")
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
    expect_model(r, "deliberateForInvoke_v08", "56d1442a0f")
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
    expect_model(r, "Stable Diffusion", "1d44365e")
    assert {"strength", "noise"} <= set(s["extensions"]["unmapped"])
    assert "width" not in s  # a 1x1 crop: the size is not invented from the pixels


def test_novelai_legacy_full_size_from_pixels():
    r = import_image(FIX / "52_novelai_legacy_full.png")
    s = r.syntax
    assert (s["seed"], s["steps"], s["guidance"]) == (1138862044, 20, 12)
    expect_model(r, "Stable Diffusion", "addb53af")
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
        s = aigif.from_dict(r.syntax)
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
    expect_model(r, mname, fp)


def test_comfyui_hires_pass_and_clip_skip():
    s = import_image(shared("aigc-images", "13_comfyui_hires.png")).syntax
    ext = s["extensions"]
    assert ext["clip_skip"] == 2
    assert ext["hires"] == {"steps": 10, "denoise": 0.3, "width": 1536, "height": 1536, "upscaler": "RealESRGAN_x4plus_anime_6B"}
    assert ext["unmapped"]["hires.seed"] == 204096574905147  # the 2nd pass's own seed is reported


def test_comfyui_sdxl_refiner():
    ext = import_image(shared("aigc-images", "45_comfyui_sdxl_refiner.png")).syntax["extensions"]
    assert ext["refiner"]["switch_at"] == 0.8  # end_at_step 20 of 25
    expect_name(ext["refiner"]["model"], "sd_xl_refiner_1.0")


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
    # the sampler's inputs come from custom nodes: the widget values are reported as uncertain
    assert "KSamplerAdvanced.steps" in s["extensions"]["unmapped"]["widget_values_used"]


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
    with pytest.raises(errors.FileAccessError):
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


# -- container and tool variants without a real sample here: built to the writers' specs ---
def _hide_bits(im, payload_bits: str, plane: str):
    """Write bits column-major into the alpha LSBs or the R, G, B LSBs (stealth layout)."""
    px = im.load()
    w, h = im.size
    per_pixel = 1 if plane == "alpha" else 3
    assert len(payload_bits) <= w * h * per_pixel
    for i in range(0, len(payload_bits), per_pixel):
        x, y = divmod(i // per_pixel, h)
        r, g, b, a = px[x, y]
        chunk = payload_bits[i : i + per_pixel]
        if plane == "alpha":
            a = (a & ~1) | int(chunk)
        else:
            vals = [r, g, b]
            for j, bit in enumerate(chunk):
                vals[j] = (vals[j] & ~1) | int(bit)
            r, g, b = vals
        px[x, y] = (r, g, b, a)


def _stealth_png(magic: bytes, payload: bytes, plane: str) -> bytes:
    from PIL import Image

    bits = "".join(f"{b:08b}" for b in magic) + f"{len(payload) * 8:032b}" + "".join(f"{b:08b}" for b in payload)
    im = Image.new("RGBA", (64, 64), (128, 64, 32, 255))
    _hide_bits(im, bits, plane)
    buf = io.BytesIO()
    (im if plane == "alpha" else im.convert("RGB")).save(buf, "PNG")
    return buf.getvalue()


def test_stealth_rgb_variant():
    import gzip

    info = b"a red fox\nNegative prompt: blur\nSteps: 12, Sampler: Euler, CFG scale: 6, Seed: 99, Size: 64x64"
    r = import_image(_stealth_png(b"stealth_rgbcomp", gzip.compress(info), "rgb"))
    assert (r.syntax["prompt"], r.syntax["negative_prompt"], r.syntax["seed"], r.syntax["steps"]) == ("a red fox", "blur", 99, 12)
    assert any("stealth:rgb" in w for w in r.warnings)


def test_stealth_novelai_alpha_json_of_chunks():
    import gzip

    chunks = {"Software": "NovelAI", "Source": "NovelAI Diffusion V4.5 4BDE2A90", "Description": "1girl",
              "Comment": json.dumps({"prompt": "1girl", "uc": "lowres", "steps": 28, "scale": 5.0, "seed": 7,
                                     "width": 832, "height": 1216, "sampler": "k_euler_ancestral", "noise_schedule": "karras"})}
    r = import_image(_stealth_png(b"stealth_pngcomp", gzip.compress(json.dumps(chunks).encode()), "alpha"))
    assert r.tool == "novelai"
    assert (r.syntax["prompt"], r.syntax["negative_prompt"], r.syntax["seed"], r.syntax["width"]) == ("1girl", "lowres", 7, 832)


def test_novelai_v4_characters():
    comment = {"prompt": "2girls", "steps": 28, "scale": 5, "seed": 1, "sampler": "k_euler_ancestral",
               "v4_prompt": {"caption": {"base_caption": "2girls", "char_captions": [
                   {"char_caption": "girl, red hair", "centers": [{"x": 0.3, "y": 0.5}]},
                   {"char_caption": "girl, blue hair", "centers": [{"x": 0.7, "y": 0.5}]}]}},
               "v4_negative_prompt": {"caption": {"base_caption": "lowres", "char_captions": [
                   {"char_caption": "hat", "centers": [{"x": 0.3, "y": 0.5}]}, {"char_caption": "", "centers": []}]}}}
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", "NovelAI")
    info.add_text("Comment", json.dumps(comment))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    s = import_image(buf.getvalue()).syntax
    assert s["negative_prompt"] == "lowres"
    assert s["extensions"]["characters"] == [
        {"prompt": "girl, red hair", "negative_prompt": "hat", "center": [0.3, 0.5]},
        {"prompt": "girl, blue hair", "negative_prompt": "", "center": [0.7, 0.5]}]


def _jpeg_with_app1(payload: bytes) -> bytes:
    return b"\xff\xd8\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + b"\xff\xd9"


@pytest.mark.parametrize("order", ["II", "MM"])
@pytest.mark.parametrize("text_order", ["le", "be"])
def test_usercomment_unicode_in_either_byte_order(order, text_order):
    text = "a cat, テスト\nSteps: 10, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512"
    body = b"UNICODE\0" + text.encode("utf-16-" + text_order)
    bo = "<" if order == "II" else ">"
    ifd0 = struct.pack(bo + "H", 1) + struct.pack(bo + "HHII", 0x8769, 4, 1, 26) + struct.pack(bo + "I", 0)
    exif_ifd = struct.pack(bo + "H", 1) + struct.pack(bo + "HHII", 0x9286, 7, len(body), 44) + struct.pack(bo + "I", 0)
    tiff = order.encode() + struct.pack(bo + "HI", 42, 8) + ifd0 + exif_ifd + body
    assert len(order.encode() + struct.pack(bo + "HI", 42, 8) + ifd0) == 26
    r = import_image(_jpeg_with_app1(b"Exif\0\0" + tiff))
    assert r.syntax["prompt"] == "a cat, テスト" and r.syntax["seed"] == 5


def test_xmp_usercomment_drawthings_json():
    params = {"c": "a lighthouse", "uc": "fog", "seed": 11, "steps": 4, "scale": 2.5, "size": "512x768",
              "sampler": "Euler A", "model": "sd_v1.5_f16.ckpt", "strength": 1, "seed_mode": "Scale Alike"}
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/"><exif:UserComment><rdf:Alt>'
           f'<rdf:li xml:lang="x-default">{json.dumps(params).replace("&", "&amp;").replace("<", "&lt;")}</rdf:li>'
           '</rdf:Alt></exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>')
    r = import_image(_jpeg_with_app1(b"http://ns.adobe.com/xap/1.0/\0" + xmp.encode()))
    s = r.syntax
    assert r.tool == "drawthings"
    assert (s["prompt"], s["negative_prompt"], s["seed"], s["steps"], s["guidance"], s["width"], s["height"]) == (
        "a lighthouse", "fog", 11, 4, 2.5, 512, 768)
    assert "img2img" not in s.get("extensions", {})  # strength 1 = txt2img


def test_comfyui_sampler_custom_advanced_and_lora_chain():
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "myModel.safetensors"}},
        "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "styleA.safetensors", "strength_model": 0.7,
                                                     "strength_clip": 0.5, "model": ["1", 0], "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["9", 0], "clip": ["2", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "bad", "clip": ["2", 1]}},
        "5": {"class_type": "RandomNoise", "inputs": {"noise_seed": 1234}},
        "6": {"class_type": "CFGGuider", "inputs": {"cfg": 4.5, "model": ["2", 0], "positive": ["3", 0], "negative": ["4", 0]}},
        "7": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "8": {"class_type": "BasicScheduler", "inputs": {"scheduler": "normal", "steps": 17, "denoise": 1.0, "model": ["2", 0]}},
        "9": {"class_type": "PrimitiveString", "inputs": {"value": "a castle on a hill"}},
        "10": {"class_type": "EmptyLatentImage", "inputs": {"width": 640, "height": 384, "batch_size": 1}},
        "11": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["5", 0], "guider": ["6", 0], "sampler": ["7", 0],
                                                                 "sigmas": ["8", 0], "latent_image": ["10", 0]}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["1", 2]}},
        "13": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["12", 0]}},
    }
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("prompt", json.dumps(graph))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    r = import_image(buf.getvalue())
    s = r.syntax
    assert (s["prompt"], s["negative_prompt"], s["seed"], s["steps"], s["guidance"], s["width"], s["height"]) == (
        "a castle on a hill", "bad", 1234, 17, 4.5, 640, 384)
    same_scheduler(s["scheduler"], "comfyui", "euler", "normal")
    assert s["extensions"]["lora"] == [{"name": "styleA", "weight": 0.7, "clip_weight": 0.5}]
    expect_name(s["model"] if isinstance(s["model"], str) else s["model"]["name"], "myModel")


def test_unknown_sampler_is_kept_and_reported():
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "x\nSteps: 5, Sampler: Totally New Sampler, CFG scale: 3, Seed: 1, Size: 64x64")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    r = import_image(buf.getvalue())
    assert "scheduler" not in r.syntax
    assert r.syntax["extensions"]["unmapped"]["sampler"] == "Totally New Sampler"
    assert any("Totally New Sampler" in u for u in r.unmapped)


# -- whatever the tool wrote, the result is a valid syntax or an aigif error ---------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_KEYS = ["parameters", "prompt", "workflow", "Comment", "invokeai_metadata", "sd-metadata", "Dream", "generation_data",
         "parameters-json", "fooocus_scheme", "Software"]
_FIELD_NAMES = ["prompt", "seed", "steps", "cfg", "sampler_name", "width", "height", "positive_prompt", "uc",
                "sui_image_params", "class_type", "inputs", "nodes", "c", "v2", "scale", "image", "model"]


def _png_with_text(pairs) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in pairs:
        info.add_itxt(k, v)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _check_valid_or_aigif_error(png: bytes) -> None:
    import aigif

    try:
        r = import_image(png)
    except errors.AigifError:
        return
    aigif.encode(aigif.from_dict(r.syntax))  # must not raise


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_KEYS), st.text(max_size=120)), min_size=1, max_size=3))
def test_random_text_fields(pairs):
    _check_valid_or_aigif_error(_png_with_text(pairs))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_KEYS), st.dictionaries(st.sampled_from(_FIELD_NAMES), _json_values, min_size=1, max_size=8))
def test_random_json_fields(key, obj):
    _check_valid_or_aigif_error(_png_with_text([(key, json.dumps(obj)), ("Software", "NovelAI")]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "Model hash",
                                           "Clip skip", "Hires upscale", "Denoising strength", "Lora hashes", "Hashes",
                                           "RNG", "ENSD", "Variation seed", "Civitai resources"]),
                          st.text(alphabet="0123456789abcx.-: ,{}[]\"", max_size=12)), min_size=3, max_size=8))
def test_random_infotext_parameter_lines(pairs):
    line = ", ".join(f"{k}: {v}" for k, v in pairs)
    _check_valid_or_aigif_error(_png_with_text([("parameters", "a prompt\nNegative prompt: n\n" + line)]))


_NODE_TYPES = ["KSampler", "KSamplerAdvanced", "CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "LoraLoader",
               "CLIPSetLastLayer", "VAEDecode", "SaveImage", "VAEEncode", "LoadImage", "FluxGuidance", "SamplerCustomAdvanced",
               "RandomNoise", "CFGGuider", "BasicScheduler", "KSamplerSelect", "UNETLoader", "SomeCustomNode"]
_INPUTS = ["seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", "model", "positive", "negative",
           "latent_image", "images", "samples", "text", "clip", "ckpt_name", "lora_name", "strength_model", "width",
           "height", "stop_at_clip_layer", "guidance", "conditioning", "noise", "guider", "sampler", "sigmas", "unet_name"]
_IDS = [str(i) for i in range(8)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_IDS), st.fixed_dictionaries({
    "class_type": st.sampled_from(_NODE_TYPES),
    "inputs": st.dictionaries(st.sampled_from(_INPUTS), st.one_of(
        _json_values, st.tuples(st.sampled_from(_IDS + ["99"]), st.integers(0, 3)).map(list)), max_size=8)}),
    min_size=1, max_size=8))
def test_random_comfyui_graphs(graph):
    """Cycles, dangling links, wrong types: a valid syntax or an aigif error, never a crash."""
    _check_valid_or_aigif_error(_png_with_text([("prompt", json.dumps(graph))]))


def test_fooocus_a1111_scheme():
    info = ("a goldfish\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 42, CFG scale: 4, "
            "Size: 896x1152, Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, Sharpness: 2, Version: Fooocus v2.5.0")
    r = import_image(_png_with_text([("parameters", info), ("fooocus_scheme", "a1111")]))
    s = r.syntax
    assert r.tool == "fooocus"
    assert (s["prompt"], s["negative_prompt"], s["seed"], s["steps"], s["width"], s["height"]) == ("a goldfish", "blurry", 42, 30, 896, 1152)
    same_scheduler(s["scheduler"], "a1111", "DPM++ 2M SDE Karras")
    assert s["extensions"]["unmapped"]["Sharpness"] == "2"


def test_png_xmp_itxt_is_read():
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:UserComment="'
           + json.dumps({"c": "a boat", "seed": 3, "steps": 6, "v2": {}}).replace('"', "&quot;")
           + '"/></rdf:RDF></x:xmpmeta>')
    r = import_image(_png_with_text([("XML:com.adobe.xmp", xmp)]))
    assert r.tool == "drawthings" and r.syntax["prompt"] == "a boat" and r.syntax["seed"] == 3


def test_hostile_webp_and_jpeg_lengths():
    riff = b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WEBP"
    for body in (b"EXIF" + struct.pack("<I", 0xFFFFFF00) + b"Exif\0\0II*\0",  # chunk longer than the file
                 b"VP8X" + struct.pack("<I", 10) + b"\0" * 10 + b"XMP " + struct.pack("<I", 3) + b"<x>"):
        with pytest.raises(errors.AigifError):
            import_image(riff + body)
    jpeg = b"\xff\xd8\xff\xe1\xff\xffExif\0\0MM\0*"  # APP1 claims 65535 bytes
    with pytest.raises(errors.NoGenerationMetadata):
        import_image(jpeg)


def test_no_provenance_drops_only_the_source_extension(tmp_path):
    import aigif
    from aigif.cli.main import main

    full = import_image(FIX / "39_a1111_webui.webp")
    bare = import_image(FIX / "39_a1111_webui.webp", provenance=False)
    assert full.syntax["extensions"]["source"] == {"tool": "a1111"}
    assert full.syntax["extensions"]["semantics"]["version"] == "v1.10.1"  # semantics, not provenance
    assert "source" not in bare.syntax.get("extensions", {})
    assert bare.syntax["extensions"]["semantics"] == full.syntax["extensions"]["semantics"]
    assert {k: v for k, v in bare.syntax.items() if k != "extensions"} == {k: v for k, v in full.syntax.items() if k != "extensions"}
    a, b = tmp_path / "a.aigif", tmp_path / "b.aigif"
    assert main(["import", str(FIX / "39_a1111_webui.webp"), "-o", str(a)]) == 0
    assert main(["import", str(FIX / "39_a1111_webui.webp"), "-o", str(b), "--no-provenance"]) == 0
    assert b.stat().st_size < a.stat().st_size
    assert "source" not in aigif.read(b).extensions
