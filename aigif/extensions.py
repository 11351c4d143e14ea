"""Extension type codes (spec §7.1): features beyond the v1 data configuration.

Each extension is one EXTENSION segment: LEB128 type code, then one msgpack object.
The table fixes, per code, its JSON name, whether it is critical (changes the pixels,
so a generator that cannot honour it must refuse) and a validator for its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from . import comfyui_graph, limits
from .errors import InvalidSyntax, LimitExceeded


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _list_of_dicts(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) for x in v)


def _lora(v) -> bool:
    return _list_of_dicts(v) and all(isinstance(x.get("name"), str) and _is_num(x.get("weight", 1.0)) for x in v)


def _source(v) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("tool"), str)
        and set(v) <= {"tool", "version"}
        and isinstance(v.get("version", ""), str)
    )


# Tools that write generation metadata, numbered for the source extension (spec §7.1):
# a known tool costs one byte instead of its name.  Append only; never renumber.
SOURCE_TOOLS = (
    "a1111", "forge", "sdnext", "comfyui", "invokeai", "novelai", "fooocus", "ruinedfooocus",
    "swarmui", "stability-matrix", "drawthings", "civitai", "tensorart", "dream.py", "diffusers",
    "paddlenlp", "aigif",
)
_TOOL_CODES = {name: i + 1 for i, name in enumerate(SOURCE_TOOLS)}


def _source_to_msgpack(v: dict) -> list:
    tool = _TOOL_CODES.get(v["tool"], v["tool"])
    return [tool, v["version"]] if "version" in v else [tool]


def _source_from_msgpack(a: list):
    if not isinstance(a, list) or not 1 <= len(a) <= 2 or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in a):
        return None
    tool = a[0]
    if isinstance(tool, int):
        tool = SOURCE_TOOLS[tool - 1] if 1 <= tool <= len(SOURCE_TOOLS) else f"tool-{tool}"
    if len(a) == 2 and not isinstance(a[1], str):
        return None
    return {"tool": tool, "version": a[1]} if len(a) == 2 else {"tool": tool}


# Generation semantics (spec §7.1.1): whose meaning the syntax fields have.  The same seed
# and sampler name make different pixels in each tool, so the extension is critical.
# Numbered for the compact coding; append only, never renumber.
ENGINES = ("diffusers", "a1111", "comfyui", "invokeai", "fooocus", "novelai")
_ENGINE_CODES = {name: i + 1 for i, name in enumerate(ENGINES)}
DEFAULT_ENGINE = "diffusers"  # what an absent semantics extension means
_UNLISTED_ENGINE = re.compile(r"engine-([1-9][0-9]{0,18})")  # how a number outside ENGINES reads


def _option_value(v) -> bool:
    return isinstance(v, (str, int, float, bool))


def _semantics(v) -> bool:
    return (
        isinstance(v, dict)
        and set(v) <= {"engine", "version", "options"}
        and isinstance(v.get("engine"), str)
        and v["engine"] != ""
        and isinstance(v.get("version", ""), str)
        and isinstance(v.get("options", {}), dict)
        and all(isinstance(k, str) and _option_value(x) for k, x in v.get("options", {}).items())
    )


def _engine_number(name: str):
    """The number an engine name is written as, or the name itself (spec §7.1.1)."""
    if name in _ENGINE_CODES:
        return _ENGINE_CODES[name]
    m = _UNLISTED_ENGINE.fullmatch(name)
    if m and int(m.group(1)) > len(ENGINES) and int(m.group(1)) < 1 << 63:
        return int(m.group(1))  # read from a newer writer's number: write that number back
    return name


def _semantics_to_msgpack(v: dict) -> list:
    out: list = [_engine_number(v["engine"])]
    if v.get("options"):
        out += [v.get("version"), v["options"]]
    elif "version" in v:
        out.append(v["version"])
    return out


def _semantics_from_msgpack(a: list):
    """[engine] / [engine, version] / [engine, version-or-nil, options]; None when the
    shape is wrong or not the one encoding of its meaning (nil version without options,
    empty options)."""
    if not isinstance(a, list) or not 1 <= len(a) <= 3:
        return None
    engine = a[0]
    if isinstance(engine, bool) or not isinstance(engine, (int, str)):
        return None
    if isinstance(engine, int):
        if engine < 1:
            return None
        engine = ENGINES[engine - 1] if engine <= len(ENGINES) else f"engine-{engine}"
    elif engine in _ENGINE_CODES or _engine_number(engine) != engine or engine == "":
        return None  # a tabled engine (or a number's spelling) written as a string: not canonical
    out: dict = {"engine": engine}
    if len(a) >= 2:
        if a[1] is not None:
            if not isinstance(a[1], str):
                return None
            out["version"] = a[1]
        elif len(a) == 2:
            return None
    if len(a) == 3:
        if not isinstance(a[2], dict) or not a[2]:
            return None
        out["options"] = a[2]
    return out


def _embeddings(v) -> bool:
    return _list_of_dicts(v) and all(
        isinstance(x.get("name"), str) and set(x) <= {"name", "hash"} and isinstance(x.get("hash", ""), str) for x in v
    )


# Extensions whose msgpack form differs from their JSON form, to save bytes on the most
# common ones (spec §7.1): name -> (to msgpack, from msgpack; None when malformed).
COMPACT = {
    "source": (_source_to_msgpack, _source_from_msgpack),
    "semantics": (_semantics_to_msgpack, _semantics_from_msgpack),
    "comfyui_graph": (comfyui_graph.to_msgpack, comfyui_graph.from_msgpack),
}


def is_elided_default(name: str, value) -> bool:
    """Whether an extension value says only what its absence says (spec §7.1.1): an
    encoder MUST NOT write it (one syntax, one file) and a decoder rejects it (E_FIELD)."""
    return name == "semantics" and isinstance(value, dict) and value == {"engine": DEFAULT_ENGINE}


def normalised(name: str, value):
    """The one form of an extension value that the file keeps (empty semantics options
    are the same as none)."""
    if name == "semantics" and isinstance(value, dict) and value.get("options") == {}:
        return {k: v for k, v in value.items() if k != "options"}
    if name == "comfyui_graph":
        return comfyui_graph.normalised(value)
    return value


def engine_of(extensions: dict) -> str:
    """The generation semantics of a syntax's extensions: the engine name (spec §7.1.1)."""
    value = extensions.get("semantics")
    return value["engine"] if isinstance(value, dict) and isinstance(value.get("engine"), str) else DEFAULT_ENGINE


def from_compact(name: str, value):
    """Undo the compact coding; None when the payload has the wrong shape."""
    if name not in COMPACT:
        return value
    return COMPACT[name][1](value)


@dataclass(frozen=True)
class ExtensionType:
    code: int
    name: str
    critical: bool
    check: Callable[[Any], bool]
    description: str


TABLE = [
    ExtensionType(1, "lora", True, _lora, "LoRA list: [{name, weight, hash?, clip_weight?}]"),
    ExtensionType(2, "clip_skip", True, lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64, "CLIP skip, A1111 convention (1 = last layer)"),
    ExtensionType(3, "hires", True, lambda v: isinstance(v, dict), "hires-fix pass: {scale, width, height, steps, denoise, upscaler, scheduler}"),
    ExtensionType(4, "refiner", True, lambda v: isinstance(v, dict), "refiner pass: {model, switch_at, steps}"),
    ExtensionType(5, "img2img", True, lambda v: isinstance(v, dict), "img2img source: {strength, source_sha256}"),
    ExtensionType(6, "inpaint", True, lambda v: isinstance(v, dict), "inpainting: {mask_sha256, strength, ...}"),
    ExtensionType(7, "controlnet", True, _list_of_dicts, "ControlNet units: [{model, weight, start, end, preprocessor, image_sha256}]"),
    ExtensionType(8, "ip_adapter", True, _list_of_dicts, "IP-adapter inputs: [{model, weight, image_sha256}]"),
    ExtensionType(9, "variation", True, lambda v: isinstance(v, dict), "variation seed: {seed, strength}"),
    ExtensionType(10, "rng", True, lambda v: isinstance(v, dict), "noise source: {source: cpu|gpu|nv, ensd}"),
    ExtensionType(11, "vae", True, lambda v: isinstance(v, dict), "VAE override: {name, hash}"),
    ExtensionType(12, "eta", True, _is_num, "DDIM/ancestral eta"),
    ExtensionType(13, "characters", True, _list_of_dicts, "multi-character prompts: [{prompt, negative_prompt, center}]"),
    ExtensionType(14, "adetailer", True, lambda v: isinstance(v, dict), "ADetailer parameters as the tool wrote them"),
    ExtensionType(15, "pipeline_args", True, lambda v: isinstance(v, dict), "extra generation arguments (guidance_rescale, ...)"),
    ExtensionType(16, "batch", True, lambda v: isinstance(v, dict), "batch position: {size, index}"),
    ExtensionType(17, "semantics", True, _semantics, "generation semantics: {engine, version?, options?} (coded as an array, §7.1.1)"),
    ExtensionType(18, "embeddings", True, _embeddings, "textual-inversion embeddings: [{name, hash?}]"),
    ExtensionType(19, "comfyui_graph", True, lambda v: comfyui_graph.problem(comfyui_graph.normalised(v)) is None,
                  "reduced ComfyUI graph: [{type, inputs: {name: literal | [node, slot] | [field]}}] (§7.1.2)"),
    ExtensionType(64, "source", False, _source, "the tool that wrote the original: {tool, version?} (coded as an array, §7.1)"),
    ExtensionType(65, "comment", False, lambda v: isinstance(v, str), "free text"),
    ExtensionType(66, "unmapped", False, lambda v: isinstance(v, dict), "tool parameters AIGIF cannot represent, verbatim"),
]
BY_CODE = {t.code: t for t in TABLE}
BY_NAME = {t.name: t for t in TABLE}


@dataclass(frozen=True)
class RawExtension:
    """An extension this decoder does not know; kept byte for byte for rewriting (§7.2)."""

    code: int
    critical: bool
    safe_to_copy: bool
    payload: bytes  # the msgpack object, undecoded

    @property
    def json_key(self) -> str:
        return f"ext-{self.code}"




def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def json_value_problem(value, depth: int = 0) -> str | None:
    """Why a value cannot be an extension value (spec §7.1), or None.

    Extension values are JSON values that msgpack carries exactly: finite numbers,
    integers within 64 bits, strings, string-keyed maps; no bytes, no NaN.
    """
    import math

    if depth > limits.MAX_EXTENSION_DEPTH:
        return f"nested deeper than {limits.MAX_EXTENSION_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return None if _encodable(value) else "a string that is not valid Unicode"
    if isinstance(value, int):
        return None if -(1 << 63) <= value < 1 << 64 else "integer outside 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "non-finite number"
    if isinstance(value, list):
        for v in value:
            p = json_value_problem(v, depth + 1)
            if p:
                return p
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not _encodable(k):
                return "map key that is not a valid string"
            p = json_value_problem(v, depth + 1)
            if p:
                return p
        return None
    return f"a {type(value).__name__} value"


def check_value(name: str, value) -> None:
    t = BY_NAME.get(name)
    if t is None:
        raise InvalidSyntax(f"unknown extension '{name}' (known: {', '.join(BY_NAME)})")
    problem = json_value_problem(value)
    if problem:
        raise InvalidSyntax(f"extension '{name}': {problem}")
    if not t.check(value):
        raise InvalidSyntax(f"extension '{name}' has an invalid value: {value!r} (expected {t.description})")
    import msgpack

    if name in COMPACT:
        value = COMPACT[name][0](value)
    if len(msgpack.packb(value, use_bin_type=True)) > limits.MAX_EXTENSION_BYTES:
        raise LimitExceeded(f"extension '{name}' is over the {limits.MAX_EXTENSION_BYTES}-byte limit")
