"""Every reproducer of issue 9, as a regression case the fuzz worker replays under the
per-input limits (tests/fuzz/test_fuzz_regressions.py).

Small inputs are committed as files in tests/fuzz_regressions/; big ones (a 900 MiB
PNG, a 200 MiB .aigif, a 1 MB command line, two 1 MiB coded texts) are built here at
test time.  Each case says what a fixed build must do:

    expect="clean"   an AigifError or a result, under the limits (2 s CPU, 400 MB)
    expect="result"  a result (the import keeps the generation syntax), under the limits

and `check` may add a promise of its own (a field that must survive, an exit status).
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .mutate import PNG_SIGNATURE, png_chunk, text_chunk
from .seeds import COMFY_GRAPH, RECIPES, build_image, tiny_png

REPO = Path(__file__).resolve().parents[1]
FILES = REPO / "tests" / "fuzz_regressions"
MiB = 1 << 20


@dataclass
class Regression:
    name: str
    issue_item: str  # "9.1" .. "9.11": the numbered failure of issue 9
    target: str  # fuzz.targets.TARGETS key
    build: Callable[[Path], bytes]  # tmp folder -> the input (a path, encoded, for path targets)
    expect: str = "clean"  # clean | result
    check: Callable | None = None  # (worker Result, tmp folder) -> problem text or None
    what: str = ""


CASES: list[Regression] = []


def case(name, item, target, expect="clean", check=None, what=""):
    def deco(fn):
        CASES.append(Regression(name, item, target, fn, expect, check, what or (fn.__doc__ or "").strip()))
        return fn
    return deco


def _file(name: str) -> Callable[[Path], bytes]:
    return lambda tmp: (FILES / name).read_bytes()


def _with_fields(recipe: str, edit) -> bytes:
    """A tool recipe of fuzz/seeds.py with one JSON field edited by edit(obj) -> JSON text."""
    container, fields = RECIPES[recipe]
    out = []
    for k, v in fields:
        try:
            obj = json.loads(v)
        except ValueError:
            out.append((k, v))
            continue
        if isinstance(obj, dict):
            v = edit(obj)
        out.append((k, v))
    return build_image(container, out)


def _inject(path: tuple, raw: str):
    """edit(obj): put the raw JSON text `raw` at obj[path...] (it may be invalid Python JSON: NaN, 1e999)."""
    def edit(obj):
        node = obj
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = "\x00REGRESSION\x00"
        return json.dumps(obj).replace(json.dumps("\x00REGRESSION\x00"), raw, 1)
    return edit


DEEP = "[" * 500 + "1" + "]" * 500
BIG_INT = "1" + "0" * 400  # > 1.8e308: float() raises OverflowError


# -- 9.1 runaway text decode ---------------------------------------------------------------
def _cheap(limit_s):
    def check(r, tmp):
        return None if r.cpu_s <= limit_s else f"{r.cpu_s:.2f} s of CPU, over {limit_s} s (work must be linear in the input)"
    return check


CASES.append(Regression("codec3-ten-byte-file", "9.1", "decode", _file("codec3-ten-bytes.aigif"), check=_cheap(0.25),
                        what="a codec-3 text with an empty payload: the range decoder read zeros past the end"))


@case("codec3-one-byte-payload", "9.1", "decode", check=_cheap(0.25))
def _codec3_one_byte(tmp):
    """The same field with a one-byte payload (CRC re-sealed)."""
    from .mutate import reseal_aigif

    ten = (FILES / "codec3-ten-bytes.aigif").read_bytes()
    # the 10-byte file: header, SYNTAX segment (type 01, length 02, body 00 10), END, CRC-16
    return reseal_aigif(ten[:4] + b"\x03" + ten[5:7] + b"\xff" + ten[7:])


_BIG_TEXT_CACHE: dict[int, bytes] = {}


@case("two-max-size-coded-texts", "9.1", "decode")
def _two_big_coded_texts(tmp):
    """A valid file whose prompt and negative prompt are each MAX_TEXT_BYTES of codec-3 text."""
    from aigif import container, limits
    from aigif import text as textcodec

    try:  # the whole-file layer: aigif/format.py (aigif/codec.py before the core restructure)
        from aigif import format as codec
    except ImportError:
        from aigif import codec
    import aigif
    from aigif.defaults import elide_defaults

    n = limits.MAX_TEXT_BYTES
    if n not in _BIG_TEXT_CACHE:
        rng = random.Random(3)
        words = ("a photo of cat dog red blue masterpiece best quality detailed 1girl solo hair eyes "
                 "looking at viewer smile").split()

        def text():
            out, size = [], 0
            while size < n:
                w = rng.choice(words)
                out.append(w)
                size += len(w) + 2
            return ", ".join(out)[:n]
        available = textcodec.available
        textcodec.available = lambda: [textcodec.PROMPT_MODEL]  # force codec 3, the costly one to decode
        try:
            s = aigif.from_dict({"prompt": text(), "negative_prompt": text(), "seed": 1})
            _BIG_TEXT_CACHE[n] = container.pack(codec.segments_of(elide_defaults(s)))
        finally:
            textcodec.available = available
    return _BIG_TEXT_CACHE[n]


# -- 9.2 silent field loss on encode ---------------------------------------------------------
CASES.append(Regression(
    "encode-keeps-steps-and-negative-beside-pixels", "9.2", "encode_json",
    lambda tmp: json.dumps({"prompt": "", "steps": 30, "negative_prompt": "blurry",
                            "payloads": [{"kind": "pixels", "codec": 1, "data": "eA==", "critical": True}]}).encode(),
    what="steps and negative prompt beside a critical pixels payload and an empty prompt"))


def _pack_check(r, tmp):
    if r.status != "ok":
        return None
    rc = r.info.get("rc")
    out = tmp / "x.aigif"
    if rc == 0:
        import aigif

        d = aigif.to_dict(aigif.read(out))
        if d.get("steps") != 30 or d.get("negative_prompt") != "blurry":
            return f"pack wrote {sorted(d)}: steps/negative prompt dropped silently"
        return None
    if rc in (1, None):
        return f"pack failed with exit status {rc}: {r.info.get('stderr', '')[-300:]}"
    return None


@case("pack-image-keeps-steps-and-negative", "9.2", "cli", check=_pack_check)
def _pack_cli(tmp):
    """aigif pack --image x.png --steps 30 --negative blurry"""
    (tmp / "x.png").write_bytes(build_image("png", []))
    return json.dumps({"cwd": str(tmp), "argv": ["pack", "--image", "x.png", "--steps", "30", "--negative", "blurry",
                                                  "-o", "x.aigif"]}).encode()


# -- 9.3 RecursionError from deep JSON, 9.7 hostile unmapped values: one case per JSON tool ---
_JSON_SLOTS = {
    "swarmui": ("sui_image_params", "fuzz_extra"),
    "novelai": ("fuzz_extra",),
    "invokeai": ("fuzz_extra",),
    "invokeai2": ("image", "fuzz_extra"),
    "fooocus": ("fuzz_extra",),
    "ruinedfooocus": ("fuzz_extra",),
    "drawthings": ("fuzz_extra",),
    "tensorart": ("fuzz_extra",),
    "stability_matrix": ("fuzz_extra",),
    "diffusers": ("fuzz_extra",),
}


def _expect_tool(tool: str):
    def check(r, tmp):
        if r.status == "ok" and r.info.get("tool") not in (tool, tool.replace("_", "-")):
            return f"imported as {r.info.get('tool')!r}, not {tool!r}"
        return None
    return check


for _tool, _path in sorted(_JSON_SLOTS.items()):
    for _label, _raw, _item in (("deep-json", DEEP, "9.3/9.7"), ("nan", "NaN", "9.7"), ("infinity", "-Infinity", "9.7"),
                                ("lone-surrogate", '"\\ud800 x"', "9.7")):
        CASES.append(Regression(
            f"{_tool}-unmapped-{_label}", _item, "import",
            (lambda tool, path, raw: lambda tmp: _with_fields(tool, _inject(path, raw)))(_tool, _path, _raw),
            expect="result", check=_expect_tool(_tool.removesuffix("2")),
            what=f"a {_label} value in an unmapped {_tool} parameter: dropped or stringified, the syntax kept"))

CASES.append(Regression(
    "comfyui-deep-json-input", "9.3", "import",
    lambda tmp: build_image("png", [("prompt", json.dumps(COMFY_GRAPH).replace('"filename_prefix": "x"',
                                                                                '"filename_prefix": ' + DEEP))]),
    what="a 500-deep value in a ComfyUI node input"))

# -- 9.4 OverflowError from float() on integers above 1.8e308 ---------------------------------
for _name, _tool, _path in (
    ("swarmui-loraweights-huge-int", "swarmui", ("sui_image_params", "loraweights")),
    ("drawthings-lora-weight-huge-int", "drawthings", ("lora", 0, "weight")),
    ("drawthings-control-weight-huge-int", "drawthings", ("control", 0, "weight")),
    ("drawthings-strength-huge-int", "drawthings", ("strength",)),
    ("novelai-scale-huge-int", "novelai", ("scale",)),
    ("invokeai-cfg-huge-int", "invokeai", ("cfg_scale",)),
    ("diffusers-guidance-huge-int", "diffusers", ("guidance_scale",)),
    ("tensorart-cfg-huge-int", "tensorart", ("cfgScale",)),
    ("stability-matrix-cfg-huge-int", "stability_matrix", ("CfgScale",)),
    ("fooocus-guidance-huge-int", "fooocus", ("guidance_scale",)),
):
    _raw = f"[{BIG_INT}]" if _path[-1] == "loraweights" else BIG_INT
    CASES.append(Regression(_name, "9.4", "import",
                            (lambda tool, path, raw: lambda tmp: _with_fields(tool, _inject(path, raw)))(_tool, _path, _raw),
                            what=f"{'.'.join(map(str, _path))} = 1e400 as a JSON integer"))


# -- 9.5 super-linear parsing --------------------------------------------------------------------
@case("a1111-param-line-of-spaces-and-colons", "9.5", "import")
def _a1111_spaces(tmp):
    """An A1111 parameter line of 40 KB of spaces around `a:b:c:d`."""
    return build_image("png", [("parameters", "a cat\nSteps: 20, " + " " * 40_000 + "a:b:c:d" + " " * 100)])


@case("a1111-param-line-spaces-colons-repeated", "9.5", "import")
def _a1111_spaces2(tmp):
    """The same with the colon groups repeated through the spaces."""
    return build_image("png", [("parameters", "a\n" + (" " * 200 + "a:b:c:d") * 200)])


@case("xmp-unclosed-usercomment", "9.5", "import")
def _xmp_unclosed(tmp):
    """Many unclosed exif:UserComment elements in an XMP packet."""
    return build_image("png", [("XML:com.adobe.xmp", "<x:xmpmeta>" + "<exif:UserComment>" * 20_000)])


@case("xmp-unclosed-rdf-li", "9.5", "import")
def _xmp_unclosed_li(tmp):
    """A closed UserComment holding many unclosed rdf:li elements."""
    return build_image("png", [("XML:com.adobe.xmp",
                                "<exif:UserComment>" + "<rdf:li>" * 40_000 + "</exif:UserComment>")])


@case("novelai-source-padded-with-spaces", "9.5", "import")
def _novelai_source(tmp):
    """A NovelAI Source of 100 KB of spaces (the `(.*?)\\s+hex$` pattern backtracks)."""
    container, fields = RECIPES["novelai"]
    fields = [(k, "Stable Diffusion" + " " * 100_000 + "x" if k == "Source" else v) for k, v in fields]
    return build_image(container, fields)


@case("dream-one-megabyte-command-line", "9.5", "import")
def _dream_long(tmp):
    """A 1 MB dream.py command line through shlex.split."""
    return build_image("png", [("Dream", '"a cat" ' + "-s 20 " * 166_000)])


@case("dream-long-quoted-prompt", "9.5", "import")
def _dream_quoted(tmp):
    """A 1 MB quoted prompt (one shlex token)."""
    return build_image("png", [("Dream", '"' + "a cat " * 166_000 + '" -s 20 -S 1')])


@case("comfyui-4000-outputs-on-a-long-model-chain", "9.5", "import")
def _comfy_chain(tmp):
    """A ComfyUI graph with 4,000 output nodes over a 4,000-node LoRA chain (each output traced back)."""
    g = json.loads(json.dumps(COMFY_GRAPH))
    prev = "4"
    for i in range(4000):
        nid = f"l{i}"
        g[nid] = {"class_type": "LoraLoader", "inputs": {"model": [prev, 0], "clip": [prev, 1], "lora_name": f"l{i}",
                                                          "strength_model": 1, "strength_clip": 1}}
        prev = nid
    g["3"]["inputs"]["model"] = [prev, 0]
    for i in range(4000):
        g[f"o{i}"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}}
    return build_image("png", [("prompt", json.dumps(g))])


@case("comfyui-4000-outputs-on-a-long-image-chain", "9.5", "import")
def _comfy_chain2(tmp):
    """4,000 output nodes at the end of a 4,000-node image chain that reaches no sampler (each walks it all)."""
    g = json.loads(json.dumps(COMFY_GRAPH))
    g["li"] = {"class_type": "LoadImage", "inputs": {"image": "x.png"}}
    prev = "li"
    for i in range(4000):
        nid = f"c{i}"
        g[nid] = {"class_type": "ImageScale", "inputs": {"image": [prev, 0], "width": 512, "height": 512}}
        prev = nid
    for i in range(4000):
        g[f"o{i}"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": [prev, 0]}}
    return build_image("png", [("prompt", json.dumps(g))])


@case("sixty-three-ztxt-json-chunks", "9.5", "import")
def _many_ztxt(tmp):
    """63 zTXt chunks of 1 MB JSON each (compressed to a few KB): parse each field once."""
    from aigif import limits

    n = min(1_000_000, limits.MAX_TEXT_BYTES - 64)
    body = '{"a": [' + "0," * ((n - 12) // 2) + '0]}'
    chunk = text_chunk("prompt", body, b"zTXt")
    return tiny_png(chunks=[chunk] * 63)


@case("sixty-three-ztxt-a1111-parameters", "9.5", "import")
def _many_ztxt_params(tmp):
    """63 zTXt `parameters` chunks of 1 MB JSON each."""
    from aigif import limits

    n = min(1_000_000, limits.MAX_TEXT_BYTES - 64)
    body = '{"a": [' + "0," * ((n - 12) // 2) + '0]}'
    return tiny_png(chunks=[text_chunk("parameters", body, b"zTXt")] * 63)


@case("a1111-repeated-unterminated-hashes", "9.5", "import", check=_cheap(0.3))
def _hashes(tmp):
    """`, Hashes: ["` repeated without an end, just under the 256 KB parameter-line cap: 0.85 s of CPU on main (quadratic), a linear parse takes milliseconds."""
    return build_image("png", [("parameters", "a cat\nSteps: 20, Seed: 1, Size: 512x512" + ', Hashes: ["' * 21_000)])


# -- 9.6 memory ------------------------------------------------------------------------------------
@case("png-31-megapixel-all-zero-stealth-scan", "9.6", "import")
def _big_zero_png(tmp):
    """A 122 KB all-zero RGBA PNG of 5600x5600 pixels and no text: the hidden-LSB scan must not hold it all."""
    w = h = 5600
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + 4 * w)
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


@case("aigif-200-mib-pixels-payload", "9.6", "read")
def _big_aigif(tmp):
    """A 200 MiB .aigif (one pixels payload): read and inspected within 400 MB of memory beyond the file itself."""
    from aigif import container
    from aigif.bits import leb128
    from aigif.container import PIXELS

    size = 200 * MiB
    body_head = leb128(1)
    head = (container.SIGNATURE + bytes([(container.FORMAT_MAJOR << 4) | (container.FORMAT_MINOR << 1)
                                         | container.VERSION_CRC32_FLAG]) + bytes([PIXELS])
            + leb128(len(body_head) + size) + body_head)
    crc = zlib.crc32(head)
    zeros = bytes(MiB)
    for _ in range(size // MiB):
        crc = zlib.crc32(zeros, crc)
    tail = bytes([container.END])
    crc = zlib.crc32(tail, crc)
    path = tmp / "big.aigif"
    with open(path, "wb") as f:
        f.write(head)
        f.seek(len(head) + size)  # a sparse run of zeros: no disk space used
        f.write(tail + crc.to_bytes(4, "big"))
    return str(path).encode()


@case("png-900-mib-refused-before-reading", "9.6", "import_path")
def _huge_png(tmp):
    """A 900 MiB PNG (sparse file): refused, or read in bounded memory, never read whole first."""
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    head = PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"tEXt", b"parameters\0a cat\nSteps: 20, Seed: 1, Size: 64x64")
    size = 900 * MiB
    path = tmp / "huge.png"
    with open(path, "wb") as f:
        f.write(head + struct.pack(">I", size - len(head) - 24) + b"IDAT")
        f.truncate(size - 12)
        f.seek(size - 12)
        f.write(png_chunk(b"IEND", b""))
    return str(path).encode()


# -- 9.7 single hostile values in unmapped parameters (above, per tool) ------------------------------
# -- 9.8 A1111 prompts that start with [ or { ------------------------------------------------------------
def _a1111_prompt_check(prefix):
    def check(r, tmp):
        if r.status != "ok":
            return None
        if r.info.get("tool") != "a1111":
            return f"imported as {r.info.get('tool')!r}"
        p = (r.info.get("syntax") or {}).get("prompt", "")
        return None if isinstance(p, str) and p.startswith(prefix) else f"prompt came back as {p!r:.80}"
    return check


for _name, _prompt in (("prompt-editing", "[cat:dog:0.5] on a sofa"), ("dynamic-prompt", "{red|blue} cat, best quality"),
                       ("json-like-prompt", '{"a": 1} literally'), ("bracket-list-prompt", "[1, 2, 3] cats")):
    CASES.append(Regression(
        f"a1111-{_name}", "9.8", "import",
        (lambda p: lambda tmp: build_image("png", [("parameters", p + "\nNegative prompt: ugly\nSteps: 20, Sampler: Euler a, "
                                                    "CFG scale: 7, Seed: 1, Size: 512x512, Model: m")]))(_prompt),
        expect="result", check=_a1111_prompt_check(_prompt[:3]),
        what=f"A1111 infotext whose prompt starts with {_prompt[:1]!r}"))


# -- 9.9 batch work -----------------------------------------------------------------------------------------
def _batch_check(jobs_label):
    def check(r, tmp):
        if r.status != "ok":
            return None
        if not (tmp / "out" / "ok.aigif").exists():
            return f"{jobs_label}: the good image was not imported (exit {r.info.get('rc')}): {r.info.get('stderr', '')[-300:]}"
        return None
    return check


def _batch_folder(tmp: Path) -> Path:
    d = tmp / "in"
    d.mkdir(exist_ok=True)
    # a.png sorts first: one that raised RecursionError on main, one with a huge float, then a good one
    (d / "a-deep.png").write_bytes(_with_fields("swarmui", _inject(("sui_image_params", "fuzz_extra"), "[" * 3000 + "]" * 3000)))
    (d / "b-overflow.png").write_bytes(_with_fields("swarmui", _inject(("sui_image_params", "loraweights"), f"[{BIG_INT}]")))
    (d / "c-none.png").write_bytes(tiny_png())
    (d / "ok.png").write_bytes(build_image(*RECIPES["a1111"]))
    (tmp / "out").mkdir(exist_ok=True)
    return d


for _jobs in ("1", "2"):
    CASES.append(Regression(
        f"batch-import-folder-with-bad-files-j{_jobs}", "9.9", "cli",
        (lambda j: lambda tmp: json.dumps({"cwd": str(tmp), "argv": ["import", str(_batch_folder(tmp)), "-o",
                                                                      str(tmp / "out"), "-j", j]}).encode())(_jobs),
        check=_batch_check(f"-j {_jobs}"), what=f"a folder with bad images and a good one, -j {_jobs}"))


def _missing_check(r, tmp):
    if r.status != "ok":
        return None
    if r.info.get("rc") != 12 or "E_IO" not in r.info.get("stderr", ""):
        return f"exit {r.info.get('rc')}, expected E_IO (12): {r.info.get('stderr', '')[-300:]}"
    if not (tmp / "ok.aigif").exists():
        return "ok.png was not imported"
    return None


@case("batch-import-missing-file-is-e-io", "9.9", "cli", check=_missing_check)
def _missing(tmp):
    """aigif import missing.png ok.png"""
    (tmp / "ok.png").write_bytes(build_image(*RECIPES["a1111"]))
    return json.dumps({"cwd": str(tmp), "argv": ["import", "missing.png", "ok.png"]}).encode()


# -- 9.10 / 9.11 security -----------------------------------------------------------------------------------
def _inline_model_check(r, tmp):
    if r.status != "ok":
        return None
    rc, err = r.info.get("rc"), r.info.get("stderr", "")
    if rc != 6:
        return f"unpack of a file naming a local folder exited {rc} (expected 6, refused): {err[-300:]}"
    if "--" not in err and "registry" not in err:
        return f"the refusal does not say how to allow it: {err[-300:]}"
    if (tmp / "out.png").exists():
        return "an image was written"
    return None


@case("unpack-inline-model-local-folder-needs-consent", "9.10", "cli", check=_inline_model_check)
def _inline_model(tmp):
    """An untrusted .aigif whose inline model name is a local folder."""
    import aigif

    evil = tmp / "evil-model"
    evil.mkdir(exist_ok=True)
    (evil / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (tmp / "f.aigif").write_bytes(aigif.encode(aigif.from_dict({"prompt": "a", "model": str(evil), "seed": 1})))
    return json.dumps({"cwd": str(tmp), "argv": ["unpack", "f.aigif", "-o", "out.png"]}).encode()


def _plugins_check(r, tmp):
    if r.status == "ok" and r.info.get("plugins_loaded"):
        return f"`aigif info` loaded entry-point plugins without being asked: {r.info['plugins_loaded']}"
    return None


@case("info-runs-no-plugin-code", "9.11", "info_plugins", check=_plugins_check)
def _info_plugins(tmp):
    """`aigif info` on an untrusted file must not import registry plugins (entry points) unless opted in."""
    return (REPO / "spec" / "vectors" / "v02-a-cat-seed-1.aigif").read_bytes()


# -- found by the fuzz harness beyond the issue's list ------------------------------------------------
@case("info-inline-model-name-too-long-for-a-path", "new", "decode")
def _long_model_name(tmp):
    """A valid file whose inline model name (300 characters) is longer than a file name may be:
    resolving it (`aigif info`, to_dict(resolved=True)) stats it as a path and got ENAMETOOLONG."""
    import aigif

    return aigif.encode(aigif.from_dict({"prompt": "a", "model": "x" * 300, "seed": 1}))



CASES.append(Regression(
    "png-broken-chunk-after-pixel-data", "new", "import", _file("png-broken-chunk-after-pixel-data.png"),
    expect="result",
    what="a NovelAI PNG whose IDAT stream runs into a corrupt chunk (atheris finding, cut to its first IDAT): "
         "Pillow's load() raised SyntaxError 'broken PNG file' out of the import's fidelity hash"))

def by_name() -> dict[str, Regression]:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "regression names must be unique"
    return {c.name: c for c in CASES}
