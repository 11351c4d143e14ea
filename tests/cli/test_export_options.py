"""Issue 16 item 15: `aigif export` honours every option it takes or refuses it: -o writes
the exported text, --format comfyui --embed writes ComfyUI's `prompt` chunk (not A1111
text), --embed writes JPEG and WebP too, and --format json --embed is refused."""

from __future__ import annotations

import json

import pytest

import aigif
from aigif import pngchunks
from aigif.errors import ExitStatus
from aigif.importers import import_image
from aigif.importers.containers import read_container
from harness import cli, files_in
from samples import image_bytes, png_image


@pytest.fixture
def syntax_file(tmp_path, capsys):
    f = tmp_path / "s.aigif"
    code, _, err = cli(capsys, "pack", "--no-generate", "--model", "sd-1.5", "--prompt", "a lighthouse at dusk",
                       "--seed", "11", "--steps", "20", "-o", f)
    assert code == 0, err
    return f


@pytest.mark.parametrize("fmt", ["a1111", "comfyui", "json"])
def test_export_output_file_holds_what_stdout_would(tmp_path, capsys, syntax_file, fmt):
    code, printed, _ = cli(capsys, "export", syntax_file, "--format", fmt)
    assert code == 0
    code, out, err = cli(capsys, "export", syntax_file, "--format", fmt, "-o", tmp_path / "out.txt")
    assert code == 0, err
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == printed  # before: nothing was written
    assert "wrote" in out and printed not in out


def test_comfyui_embed_writes_the_graph_comfyui_loads(tmp_path, capsys, syntax_file):
    src = tmp_path / "in.png"
    src.write_bytes(png_image((64, 64)))
    out = tmp_path / "out.png"
    code, _, err = cli(capsys, "export", syntax_file, "--format", "comfyui", "--embed", src, "-o", out, "--no-aigif")
    assert code == 0, err
    c = read_container(out.read_bytes())
    assert c.get("parameters") is None  # before: A1111 text whatever --format said
    graph = json.loads(c.get("prompt"))
    assert any(node.get("class_type") == "KSampler" for node in graph.values())
    r = import_image(out, fidelity=False)
    assert r.tool == "comfyui" and r.syntax["prompt"] == "a lighthouse at dusk" and r.syntax["seed"] == 11


@pytest.mark.parametrize("fmt, name", [("PNG", "o.png"), ("JPEG", "o.jpg"), ("WEBP", "o.webp")])
def test_a1111_embed_into_every_format_reimports_to_the_same_syntax(tmp_path, capsys, syntax_file, fmt, name):
    src = tmp_path / ("in." + name.split(".")[1])
    src.write_bytes(png_image((64, 64)) if fmt == "PNG" else image_bytes(fmt, (64, 64)))
    out = tmp_path / name
    code, _, err = cli(capsys, "export", syntax_file, "--embed", src, "-o", out)
    assert code == 0, err
    r = import_image(out, fidelity=False)
    assert r.tool == "aigif"
    assert aigif.to_dict(aigif.from_dict(r.syntax)) == aigif.to_dict(aigif.read(syntax_file))
    # the A1111 text is there too, for A1111 itself (and the importer when the copy is left out)
    code, _, err = cli(capsys, "export", syntax_file, "--embed", src, "-o", out, "--no-aigif")
    assert code == 0, err
    r = import_image(out, fidelity=False)
    assert r.tool == "a1111" and r.syntax["prompt"] == "a lighthouse at dusk" and r.syntax["steps"] == 20
    from PIL import Image

    with Image.open(out) as a, Image.open(src) as b:  # the pixels are copied, never re-encoded
        assert a.format == b.format and a.tobytes() == b.tobytes()


def test_embed_into_a_jpeg_keeps_its_other_segments(tmp_path, capsys, syntax_file):
    from aigif.exporters.embed import embed_metadata

    src = image_bytes("JPEG", (32, 32))
    once = embed_metadata(src, "first\nSteps: 3, Seed: 1", b"")
    twice = embed_metadata(once, "second\nSteps: 3, Seed: 2", None)
    c = read_container(twice)
    assert [f.value for f in c.fields if f.key == "UserComment"] == ["second\nSteps: 3, Seed: 2"]  # replaced, not added
    assert twice.endswith(src[src.index(b"\xff\xdb"):])  # tables and scan untouched


@pytest.mark.parametrize("args, status", [
    (["--format", "json", "--embed", "IN", "-o", "OUT.png"], ExitStatus.USAGE),
    (["--embed", "IN"], ExitStatus.USAGE),
    (["--embed", "IN", "-o", "OUT.jpg"], ExitStatus.USAGE),  # a PNG cannot become a JPEG without re-encoding
    (["--no-aigif"], ExitStatus.USAGE),
    (["--format", "comfyui", "--embed", "JPG", "-o", "OUT.jpg"], ExitStatus.UNSUPPORTED),
])
def test_export_refuses_options_it_cannot_honour(tmp_path, capsys, syntax_file, args, status):
    (tmp_path / "in.png").write_bytes(png_image((64, 64)))
    (tmp_path / "in.jpg").write_bytes(image_bytes("JPEG", (64, 64)))
    subst = {"IN": tmp_path / "in.png", "JPG": tmp_path / "in.jpg", "OUT.png": tmp_path / "out.png",
             "OUT.jpg": tmp_path / "out.jpg"}
    before = files_in(tmp_path)
    code, _, err = cli(capsys, "export", syntax_file, *[subst.get(a, a) for a in args])
    assert code == status, err
    assert "Traceback" not in err and err.startswith("aigif: ")
    assert files_in(tmp_path) == before


def test_png_text_chunk_order(tmp_path, capsys, syntax_file):
    src = tmp_path / "in.png"
    src.write_bytes(png_image((64, 64), text={"Software": "GIMP"}))
    assert cli(capsys, "export", syntax_file, "--embed", src, "-o", tmp_path / "o.png")[0] == 0
    data = (tmp_path / "o.png").read_bytes()
    types = [c.type for c in pngchunks.chunks(data)]
    assert types[:3] == [b"IHDR", b"tEXt", b"tEXt"] and types[-1] == b"IEND"


def _animated_webp() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


@pytest.mark.parametrize("name, content, status", [
    ("cut.jpg", image_bytes("JPEG", (16, 16))[:30], ExitStatus.MALFORMED),
    ("soi.jpg", b"\xff\xd8\xff", ExitStatus.MALFORMED),
    ("cut.webp", image_bytes("WEBP", (16, 16))[:20], ExitStatus.MALFORMED),
    ("anim.webp", None, ExitStatus.UNSUPPORTED),
])
def test_embed_into_a_broken_jpeg_or_webp_fails_cleanly(tmp_path, capsys, syntax_file, name, content, status):
    img = tmp_path / name
    img.write_bytes(_animated_webp() if content is None else content)
    before = files_in(tmp_path)
    code, _, err = cli(capsys, "export", syntax_file, "--embed", img, "-o", tmp_path / ("out." + name.split(".")[1]))
    assert code == status, err
    assert "Traceback" not in err and files_in(tmp_path) == before
