"""AIGIF syntax -> A1111 infotext: prompt lines, `Negative prompt: ...`, then one line of
`Key: value` pairs in A1111's order, quoted the way A1111 quotes them."""

from __future__ import annotations

import json

from aigif.errors import UnsupportedFeature
from aigif.jsonform import syntax_to_dict

from .common import concrete, model_name_and_hash, tool_scheduler

# tools whose `unmapped` keys are A1111 infotext keys, written back verbatim
_A1111_FAMILY = {"a1111", "forge", "sdnext", "civitai", "comfyui", "fooocus"}


def quote(text) -> str:
    """modules/infotext_utils.py quote(): JSON-quote values holding ',', ':' or a newline."""
    text = str(text)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _num(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# extensions the infotext expresses (the others have no A1111 key)
EXPRESSED = {"lora", "clip_skip", "hires", "refiner", "img2img", "variation", "rng", "vae", "eta", "adetailer",
             "source", "comment", "unmapped", "semantics", "embeddings", "batch"}


def unexpressed(syntax) -> list[str]:
    """Critical extensions an A1111 infotext cannot carry (the text would describe another image)."""
    d = concrete(syntax)
    return sorted(k for k in (d.get("extensions") or {}) if k not in EXPRESSED)


def to_a1111(syntax, *, strict: bool = False) -> str:
    """The infotext.  With strict=True, a syntax using extensions A1111 has no key for
    raises UnsupportedFeature instead of being described incompletely."""
    d = concrete(syntax)
    ext = d.get("extensions", {}) or {}
    missing = sorted(k for k in ext if k not in EXPRESSED)
    if missing and strict:
        raise UnsupportedFeature(f"an A1111 infotext cannot express the extension(s) {', '.join(missing)}", extensions=missing)
    params: list[tuple[str, object]] = []

    def add(key, value):
        if value is not None and value != "":
            params.append((key, value))

    add("Steps", d.get("steps"))
    sampler, schedule = tool_scheduler(d.get("scheduler"), "a1111")
    add("Sampler", sampler)
    add("Schedule type", schedule)
    add("CFG scale", _num(d["guidance"]) if d.get("guidance") is not None else None)
    add("Seed", d.get("seed"))
    if d.get("width") and d.get("height"):
        add("Size", f"{d['width']}x{d['height']}")
    name, fp = model_name_and_hash(d)
    add("Model hash", fp)
    add("Model", name if name != "unknown" else None)
    vae = ext.get("vae") or {}
    add("VAE hash", vae.get("hash"))
    add("VAE", vae.get("name"))
    var = ext.get("variation") or {}
    add("Variation seed", var.get("seed"))
    add("Variation seed strength", var.get("strength"))
    hires = ext.get("hires") or {}
    add("Denoising strength", hires.get("denoise", (ext.get("img2img") or {}).get("strength")))
    add("Clip skip", ext.get("clip_skip"))
    rng = ext.get("rng") or {}
    if rng.get("source") and rng["source"] != "gpu":  # A1111 omits RNG when it is GPU
        add("RNG", rng["source"].upper() if rng["source"] in ("cpu", "nv") else rng["source"])
    add("ENSD", rng.get("ensd"))
    add("Eta", ext.get("eta"))
    add("Hires upscale", hires.get("scale"))
    add("Hires steps", hires.get("steps"))
    add("Hires upscaler", hires.get("upscaler"))
    if hires.get("width") and hires.get("height"):
        add("Hires resize", f"{hires['width']}x{hires['height']}")
    if hires.get("scheduler"):
        hs, hsch = tool_scheduler(hires["scheduler"], "a1111")
        add("Hires sampler", hs)
        add("Hires schedule type", hsch)
    ref = ext.get("refiner") or {}
    add("Refiner", ref.get("model"))
    add("Refiner switch at", ref.get("switch_at"))
    loras = ext.get("lora") or []
    if loras and all(lo.get("hash") for lo in loras):
        add("Lora hashes", ", ".join(f"{lo['name']}: {lo['hash']}" for lo in loras))
    for k, v in (ext.get("adetailer") or {}).items():
        add(f"ADetailer {k}", v)
    batch = ext.get("batch") or {}
    if batch.get("size", 1) > 1:
        add("Batch size", batch["size"])
        add("Batch pos", batch.get("index", 0))
    embeddings = [e for e in ext.get("embeddings") or [] if e.get("hash")]
    if embeddings:
        add("TI hashes", ", ".join(f"{e['name']}: {e['hash']}" for e in embeddings))
    semantics = ext.get("semantics") or {}
    if semantics.get("engine") == "a1111":  # the options are A1111 infotext keys (spec §7.1.1)
        for k, v in (semantics.get("options") or {}).items():
            add(k, v)
    src = ext.get("source") or {}
    tool = src.get("tool", "")
    if tool in _A1111_FAMILY:
        unmapped = ext.get("unmapped") or {}
        for k, v in unmapped.items():
            if k == "extras" or k.endswith("-2") and k[:-2] + "-1" in unmapped:
                continue  # "extras" is a chunk of its own in A1111; "-2" joins its "-1" below
            if k.endswith("-1") and k[:-2] + "-2" in unmapped:  # the parser split "Key: WxH" in two
                add(k[:-2], f"{v}x{unmapped[k[:-2] + '-2']}")
                continue
            add(k, json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, (dict, list)) else v)
    if tool == "sdnext":
        add("App", "SD.Next")
    semantics = ext.get("semantics") if isinstance(ext.get("semantics"), dict) else {}
    version = semantics.get("version") or src.get("version")  # semantics first: spec §7.1.1
    add("Version", version if tool in _A1111_FAMILY else None)

    lines = [d.get("prompt", "")]
    if d.get("negative_prompt") is not None and (d["negative_prompt"] != "" or "negative_prompt" in _explicit(syntax)):
        lines.append(f"Negative prompt: {d['negative_prompt']}")
    lines.append(", ".join(f"{k}: {_q(k, v)}" for k, v in params))
    return "\n".join(lines)


def _q(key: str, value) -> str:
    if key in ("Hashes", "Civitai resources", "Civitai metadata") and isinstance(value, str) and value[:1] in "[{":
        return value  # Civitai writes these as bare JSON
    return quote(value)


def _explicit(syntax) -> set:
    if isinstance(syntax, dict):
        return set(syntax)
    try:
        return set(syntax_to_dict(syntax))
    except Exception:  # noqa: BLE001 - only decides whether to print an empty negative prompt
        return set()
