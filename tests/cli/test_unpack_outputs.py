"""Issue 16, the user's path through `aigif unpack` (items 1, 3, 8, 9, 11): output formats by
extension, generation metadata in every image written (re-imported to the same syntax),
what "bit-exact" means for lossy payloads, a lossy residual through the CLI, and the kept
original of `import --keep-pixels`.

The model is replaced by a seeded stand-in (`fake_generation`): what is tested is what the
CLI does with the pixels, not the model; test_regenerated_png_reimports_to_the_same_syntax
runs the real embedded model once."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aigif
from aigif import metrics, pngchunks, regenerate
from aigif.errors import ExitStatus
from aigif.exporters.embed import embed_png
from aigif.fidelity import fidelity_of
from aigif.importers import import_image
from harness import cli, files_in

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "aigc"


@pytest.fixture
def fake_generation(monkeypatch):
    """generate_image -> a seeded image of the syntax's size (no model, milliseconds)."""
    from aigif.defaults import resolve

    def generate(syntax, **options):
        s = aigif.from_dict(syntax) if isinstance(syntax, dict) else syntax
        r = resolve(s)
        y, x = np.mgrid[0 : r.height, 0 : r.width]
        base = 40 + 30 * np.sin(x / 7 + r.seed) + 20 * np.cos(y / 5)  # dark and smooth, as a regeneration
        a = np.stack([base, base * 0.8, base * 1.2], axis=-1)
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB"), None

    monkeypatch.setattr(regenerate, "generate_image", generate)
    return generate


def packed(tmp_path, capsys, *extra) -> Path:
    f = tmp_path / "fox.aigif"
    code, _, err = cli(capsys, "pack", "--prompt", "a red fox", "--seed", "7", "--steps", "9", "--no-platform", *extra, "-o", f)
    assert code == 0, err
    return f


# -- item 8: the output format follows the extension ------------------------------------------
@pytest.mark.parametrize("name, signature", [("x.png", b"\x89PNG"), ("x.jpg", b"\xff\xd8\xff"), ("x.JPEG", b"\xff\xd8\xff"),
                                             ("x.webp", b"RIFF")])
def test_unpack_writes_the_format_its_extension_names(tmp_path, capsys, fake_generation, name, signature):
    f = packed(tmp_path, capsys)
    code, out, err = cli(capsys, "unpack", f, "-o", tmp_path / name)
    assert code == 0, err
    assert (tmp_path / name).is_file() and (tmp_path / name).read_bytes().startswith(signature)
    with Image.open(tmp_path / name) as im:
        assert im.size == (64, 64)


@pytest.mark.parametrize("name", ["x.gif", "x.tiff", "out.d"])
def test_unpack_refuses_an_unknown_extension_and_creates_nothing(tmp_path, capsys, fake_generation, name):
    f = packed(tmp_path, capsys)
    before = files_in(tmp_path)
    code, _, err = cli(capsys, "unpack", f, "-o", tmp_path / name)
    assert code == ExitStatus.USAGE and "unknown image extension" in err
    assert files_in(tmp_path) == before  # before the fix: a directory named x.jpg


def test_unpack_into_a_directory_with_format_and_quality(tmp_path, capsys, fake_generation):
    f = packed(tmp_path, capsys)
    g = tmp_path / "other.aigif"
    g.write_bytes(f.read_bytes())
    code, out, err = cli(capsys, "unpack", f, g, "-o", tmp_path / "out", "--format", "jpeg", "--quality", "40")
    assert code == 0, err
    small = (tmp_path / "out" / "fox.jpg").read_bytes()
    assert small.startswith(b"\xff\xd8") and (tmp_path / "out" / "other.jpg").is_file()
    code, _, err = cli(capsys, "unpack", f, "-o", tmp_path / "hi.jpg", "--quality", "100")
    assert code == 0, err
    assert len((tmp_path / "hi.jpg").read_bytes()) > len(small)
    assert cli(capsys, "unpack", f, "-o", tmp_path / "x.png", "--format", "webp")[0] == ExitStatus.USAGE
    assert cli(capsys, "unpack", f, "-o", tmp_path / "q.webp", "--quality", "0")[0] == ExitStatus.USAGE


# -- item 9: the syntax travels with the image --------------------------------------------------
@pytest.mark.parametrize("name", ["x.png", "x.jpg", "x.webp"])
def test_unpacked_image_reimports_to_the_same_syntax(tmp_path, capsys, fake_generation, name):
    f = packed(tmp_path, capsys)  # with the model run: FIDELITY recorded
    assert cli(capsys, "unpack", f, "-o", tmp_path / name)[0] == 0
    code, _, err = cli(capsys, "import", tmp_path / name, "-o", tmp_path / "back.aigif")
    assert code == 0, err
    back = aigif.to_dict(aigif.read(tmp_path / "back.aigif"))
    assert back == aigif.to_dict(aigif.read(f))
    assert import_image(tmp_path / name).tool == "aigif"


def test_png_also_carries_a1111_parameters(tmp_path, capsys, fake_generation):
    f = packed(tmp_path, capsys)
    assert cli(capsys, "unpack", f, "-o", tmp_path / "x.png")[0] == 0
    data = (tmp_path / "x.png").read_bytes()
    keys = [data[c.body_start : c.body_end].split(b"\0")[0] for c in pngchunks.chunks(data) if c.type == b"tEXt"]
    assert keys == [b"parameters", b"aigif"]
    # without the AIGIF copy, the A1111 text alone still imports (what A1111 itself reads)
    plain = embed_png(data, {"aigif": ""}).replace(pngchunks.write_chunk(b"tEXt", b"aigif\0"), b"")
    r = import_image(plain, fidelity=False)
    assert r.tool == "a1111" and r.syntax["prompt"] == "a red fox" and r.syntax["seed"] == 7 and r.syntax["steps"] == 9


def test_a_broken_aigif_copy_falls_back_to_the_a1111_text(tmp_path, capsys, fake_generation):
    f = packed(tmp_path, capsys)
    assert cli(capsys, "unpack", f, "-o", tmp_path / "x.png")[0] == 0
    broken = embed_png((tmp_path / "x.png").read_bytes(), {"aigif": "QUlHSUYK"})  # "AIGIF\n": not an AIGIF file
    r = import_image(broken, fidelity=False)
    assert r.tool == "a1111" and any("embedded AIGIF copy" in w for w in r.warnings)


@pytest.mark.parametrize("name", ["x.png", "x.jpg", "x.webp"])
def test_no_metadata_writes_pixels_only(tmp_path, capsys, fake_generation, name):
    f = packed(tmp_path, capsys)
    assert cli(capsys, "unpack", f, "-o", tmp_path / name, "--no-metadata")[0] == 0
    code, _, _ = cli(capsys, "import", tmp_path / name, "-o", tmp_path / "b.aigif")
    assert code == ExitStatus.NO_METADATA


# -- items 1 and 3: lossy payloads say what "bit-exact" matched ----------------------------------
def test_lossy_pixels_say_the_hash_is_of_the_coded_image(tmp_path, capsys):
    original = tmp_path / "o.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(original)
    for codec, lossy in (("webp:80", True), ("png", False)):
        f = tmp_path / f"{codec[:4]}.aigif"
        assert cli(capsys, "pack", "--image", original, "--codec", codec, "-o", f)[0] == 0
        code, out, err = cli(capsys, "unpack", f, "-o", tmp_path / "u.png", "--reference", original)
        assert code == 0, err
        assert "bit-exact (pixels)" in out
        assert ("not of the original" in out) is lossy, out
        assert ("webp (lossy)" in out) is lossy


def test_lossy_residual_through_the_cli_beats_the_plain_regeneration(tmp_path, capsys, fake_generation):
    regen, _ = fake_generation(aigif.from_dict({"prompt": "a red fox", "seed": 7, "steps": 9}))
    a = np.asarray(regen).copy()
    a[10:40, 12:52] = (255, 0, 0)  # a red square pasted on the regeneration
    edited = tmp_path / "edited.png"
    Image.fromarray(a).save(edited)
    f = tmp_path / "res.aigif"
    code, out, err = cli(capsys, "pack", "--prompt", "a red fox", "--seed", "7", "--steps", "9", "--image", edited,
                         "--residual", "--codec", "webp:90", "-o", f)
    assert code == 0, err
    plain = metrics.psnr(regen, Image.open(edited))
    assert "residual webp:90 (lossy)" in out and f"{plain:.2f} dB for the plain regeneration" in out
    code, out, err = cli(capsys, "unpack", f, "-o", tmp_path / "u.png", "--reference", edited)
    assert code == 0, err
    # FIDELITY is the hash of what a reader gets (the lossy reconstruction), and says so
    assert "bit-exact (regenerated+residual)" in out and "lossy residual" in out
    with Image.open(tmp_path / "u.png") as u:
        assert metrics.psnr(u, Image.open(edited)) > plain + 6


# -- item 11: the original kept by import --keep-pixels ------------------------------------------
def test_unpack_falls_back_to_the_kept_original_when_the_model_is_unknown(tmp_path, capsys):
    src = FIX / "01_a1111_cropped.png"  # its model is in no registry here
    k = tmp_path / "k.aigif"
    assert cli(capsys, "import", src, "--keep-pixels", "-o", k)[0] == 0
    code, out, err = cli(capsys, "unpack", k, "-o", tmp_path / "k.png")
    assert code == 0, err
    assert "E_MODEL_UNKNOWN" in err and "original image the file keeps" in err and "(kept original)" in out
    with Image.open(tmp_path / "k.png") as got, Image.open(src) as want:
        assert got.convert("RGB").tobytes() == want.convert("RGB").tobytes()
    # without a kept original the model error stands
    plain = tmp_path / "plain.aigif"
    assert cli(capsys, "import", src, "-o", plain)[0] == 0
    code, _, err = cli(capsys, "unpack", plain, "-o", tmp_path / "p.png")
    assert code == ExitStatus.MODEL and "E_MODEL_UNKNOWN" in err and not (tmp_path / "p.png").exists()


def test_unpack_pixels_extracts_the_kept_original(tmp_path, capsys):
    for src, name in ((FIX / "01_a1111_cropped.png", "raw.png"), (FIX / "02_a1111_cropped.jpg", "raw.jpg")):
        k = tmp_path / (src.stem + ".aigif")
        assert cli(capsys, "import", src, "--keep-pixels", "-o", k)[0] == 0
        code, out, err = cli(capsys, "unpack", k, "--pixels", "-o", tmp_path / name)
        assert code == 0, err
        assert (tmp_path / name).read_bytes() == src.read_bytes()  # the same format: the file byte for byte
    code, _, err = cli(capsys, "unpack", tmp_path / "02_a1111_cropped.aigif", "--pixels", "-o", tmp_path / "conv.png")
    assert code == 0, err
    with Image.open(tmp_path / "conv.png") as got, Image.open(FIX / "02_a1111_cropped.jpg") as want:
        assert got.format == "PNG" and got.convert("RGB").tobytes() == want.convert("RGB").tobytes()


def test_unpack_pixels_of_a_file_without_pixels_is_refused(tmp_path, capsys):
    f = tmp_path / "s.aigif"
    assert cli(capsys, "pack", "--no-generate", "--prompt", "x", "-o", f)[0] == 0
    code, _, err = cli(capsys, "unpack", f, "--pixels", "-o", tmp_path / "x.png")
    assert code == ExitStatus.USAGE and "stores no pixels" in err and not (tmp_path / "x.png").exists()


# -- acceptance, with the real embedded model -----------------------------------------------------
def test_regenerated_png_reimports_to_the_same_syntax(tmp_path, capsys):
    # one run of the model (the unpack): the file is written without running it
    f = tmp_path / "real.aigif"
    assert cli(capsys, "pack", "--no-generate", "--prompt", "a lighthouse", "--seed", "11", "--steps", "3", "-o", f)[0] == 0
    code, out, err = cli(capsys, "unpack", f, "-o", tmp_path / "real.png")
    assert code == 0 and "(regenerated)" in out, err
    assert cli(capsys, "import", tmp_path / "real.png", "-o", tmp_path / "back.aigif")[0] == 0
    back = aigif.to_dict(aigif.read(tmp_path / "back.aigif"))
    with Image.open(tmp_path / "real.png") as im:
        assert back.pop("fidelity") == fidelity_of(im).to_dict()  # import hashes the pixels it was given
    assert back == aigif.to_dict(aigif.read(f))


def test_metadata_too_long_for_a_jpeg_is_left_out_with_a_warning(tmp_path, capsys, fake_generation):
    f = tmp_path / "long.aigif"
    prompt = " ".join(f"word{i}" for i in range(7000))  # ~58 KB: over a JPEG segment in UTF-16 and in base64
    assert cli(capsys, "pack", "--prompt", prompt, "--seed", "1", "--no-platform", "-o", f)[0] == 0
    code, _, err = cli(capsys, "unpack", f, "-o", tmp_path / "x.jpg")
    assert code == 0 and "too long for a JPEG" in err and "written without it" in err
    assert (tmp_path / "x.jpg").read_bytes().startswith(b"\xff\xd8")
    assert cli(capsys, "unpack", f, "-o", tmp_path / "x.png")[0] == 0  # PNG holds it
    assert aigif.read(tmp_path / "long.aigif").prompt == import_image(tmp_path / "x.png").syntax["prompt"]


def test_an_image_whose_only_metadata_is_a_broken_aigif_copy_has_no_metadata(tmp_path, capsys):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG")
    for copy in ("not base64 !", "QUlHSUYK", "QUlHSUYB" + "A" * 40):
        img = tmp_path / "x.png"
        img.write_bytes(embed_png(buf.getvalue(), {"aigif": copy}))
        code, _, err = cli(capsys, "import", img, "-o", tmp_path / "x.aigif")
        assert code == ExitStatus.NO_METADATA and "Traceback" not in err, err
        assert not (tmp_path / "x.aigif").exists()


def test_pack_save_image_carries_the_generation_metadata(tmp_path):
    """`pack --save-image` writes its PNG as unpack does: it re-imports to the packed syntax;
    --no-metadata leaves the pixels bare."""
    from aigif.cli.main import main

    out, png = tmp_path / "p.aigif", tmp_path / "p.png"
    assert main(["pack", "--model", "tiny-sd", "--prompt", "a red fox", "--seed", "3", "--steps", "2", "-q",
                 "-o", str(out), "--save-image", str(png)]) == 0
    assert main(["import", str(png), "-o", str(tmp_path / "back.aigif")]) == 0
    assert aigif.to_dict(aigif.read(tmp_path / "back.aigif")) == aigif.to_dict(aigif.read(out))
    bare = tmp_path / "bare.png"
    assert main(["pack", "--model", "tiny-sd", "--prompt", "a red fox", "--seed", "3", "--steps", "2", "-q",
                 "-o", str(tmp_path / "b.aigif"), "--save-image", str(bare), "--no-metadata"]) == 0
    from PIL import Image

    assert not Image.open(bare).info
