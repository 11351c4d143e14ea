"""AUTOMATIC1111 infotext (also Forge, SD.Next, Civitai, ComfyUI save nodes that write
A1111-style text): the `parameters` PNG chunk or the EXIF UserComment.

Grammar (A1111 modules/infotext_utils.py, parse_generation_parameters): prompt lines, an
optional `Negative prompt:` line (and the lines after it), then one line of `Key: value`
pairs, which counts only if it holds at least 3 of them; values containing `,`, `:` or a
newline are JSON-quoted; `Size: WxH` splits in two.

LoRA decision: `<lora:name:weight>` tags are prompt text for A1111 (its prompt parser
loads the network and removes the tag), so the prompt keeps them verbatim.  The `lora`
extension is filled only when the infotext lists the networks separately (`Lora hashes`,
or `lora:` entries of `Hashes`); the weight then comes from the matching prompt tag.  A
generator that honours the `lora` extension must strip the tags from the prompt first.
"""

from __future__ import annotations

import json
import re

from aigif import limits

from ..draft import Draft, registry, to_int, to_number
from ..jsonutil import load_json, loads
from ..registered import register

# A1111's own pattern (modules/infotext_utils.py re_param_code) with its repetitions bounded:
# unbounded, a long line without colons or with unclosed quotes backtracks quadratically.
# `(?<!\s)`: no match may start inside a run of white space.  One that starts at the run's
# first character already tried every key after it, so the matches are A1111's, but a
# line of 40,000 spaces costs one pass instead of 40,000 (29 s).
RE_PARAM = re.compile(r'(?<!\s)\s*(\w[\w \-/]{1,63}):\s*("(?:\\.|[^\\"]){1,8192}"|[^,]*)(?:,|$)')
RE_JSON_KEY = re.compile(r"(?:^|,)\s*(Hashes|Civitai resources|Civitai metadata|Lora weights):\s*([\[{])")
RE_SIZE = re.compile(r"^(\d+)x(\d+)$")
RE_LORA_TAG = re.compile(r"<lora:([^:>]+):([^:>]+)(?::[^>]*)?>")


def unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        decoded = loads(v)
        return decoded if isinstance(decoded, str) else v
    return v


def parse_infotext(text: str) -> tuple[str, str | None, dict[str, str]]:
    """-> (prompt, negative prompt or None, {key: raw value}).

    Unlike A1111's parser the prompt lines are not stripped: the prompt that made the
    image is kept byte for byte (a trailing space or newline included), so that
    exporting it again reproduces the original text.
    """
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    params: dict[str, str] = {}
    if lines and len(lines[-1]) <= limits.MAX_INFOTEXT_PARAM_LINE and lines[-1].count(":") >= 3 and len(RE_PARAM.findall(lines[-1])) >= 3:
        last, params = _json_params(lines.pop())
        for k, v in RE_PARAM.findall(last):
            v = unquote(v.strip())
            m = RE_SIZE.match(v)
            if m:
                params[f"{k.strip()}-1"], params[f"{k.strip()}-2"] = m.group(1), m.group(2)
            else:
                params[k.strip()] = v
    prompt_lines: list[str] = []
    neg_lines: list[str] | None = None
    for line in lines:
        if neg_lines is None and line.startswith("Negative prompt:"):
            neg_lines = [line[len("Negative prompt:") :].removeprefix(" ")]
        elif neg_lines is not None:
            neg_lines.append(line)
        else:
            prompt_lines.append(line)
    return "\n".join(prompt_lines), ("\n".join(neg_lines) if neg_lines is not None else None), params


def _json_params(line: str) -> tuple[str, dict[str, str]]:
    """Civitai writes `Hashes: {...}` and `Civitai resources: [...]` as bare JSON, which
    the key-value regex would cut at the first comma: take them out first.

    Linear in the line: the values are taken left to right, a key that looks like one
    inside a value already taken is part of that value, the kept text is joined once at
    the end, and all decode attempts together read at most a few times the line; past
    that budget the remaining keys are left to the key-value regex.
    """
    found: dict[str, str] = {}
    keep: list[str] = []
    pos = 0  # everything before it is decided: kept in `keep` or taken as a value
    budget = 8 * len(line) + 65536
    for m in RE_JSON_KEY.finditer(line):
        if budget <= 0:
            break
        if m.start() < pos:
            continue
        start = m.end(2) - 1
        end, spent = _json_value_end(line, start, budget)
        budget -= spent
        if end is None:
            continue
        found.setdefault(m.group(1), line[start:end])  # a repeated key: the first one counts
        cut = m.start()
        if line[cut] != ",":  # the first pair: drop the separator that followed it
            end = end + 1 if line.startswith(",", end) else end
        keep.append(line[pos:cut])
        pos = end
    keep.append(line[pos:])
    return "".join(keep), found


_DECODER = json.JSONDecoder()
_FIRST_WINDOW = 64
# A decode error this far before the end of the window cannot come from the cut: the
# longest token a cut can break into an error before itself is `-Infinity` or a
# surrogate pair of escapes, 12 characters.
_CUT_MARGIN = 32


def _json_value_end(line: str, start: int, budget: int) -> tuple[int | None, int]:
    """-> (the end of the JSON array/object at `start`, or None; characters read).

    Decoded in a window that doubles, never in place: a JSONDecodeError costs time in
    proportion to its offset in the string decoded (it counts the lines before it), so
    decoding in place at each of 20,000 unterminated `Hashes: ["` scanned the whole line
    each time (0.85 s for 250 KB).  A value that ends inside the window ends there in
    the whole line too (it closes with its bracket); an error counts only where the
    window's cut cannot have caused it.
    """
    rest = len(line) - start
    window = min(rest, _FIRST_WINDOW)
    spent = 0
    while True:
        spent += window
        try:
            _, end = _DECODER.raw_decode(line[start : start + window])
            return start + end, spent
        except json.JSONDecodeError as e:
            decided = window == rest or (e.pos < window - _CUT_MARGIN and not e.msg.startswith("Unterminated string"))
        except (ValueError, RecursionError):  # too deep, or an integer too long: as deep or longer in the whole line
            decided = True
        if decided or spent >= budget:
            return None, spent
        window = min(rest, 2 * window)


def looks_like_infotext(text: str | None, c=None) -> bool:
    """A1111 text: a last line of at least 3 `Key: value` pairs.

    A prompt may start with `[` or `{` (prompt editing `[cat:dog:0.5]`, dynamic-prompt
    wildcards `{red|blue}`): only text that is JSON as a whole is not infotext.  `c`, the
    image's container, shares the JSON parse and this answer with the other detectors.
    """
    if not text:
        return False
    if c is not None:
        return c.memo("a1111:infotext", text, lambda t: _looks_like_infotext(t, c.json(t)))
    return _looks_like_infotext(text, load_json(text))


def _looks_like_infotext(text: str, parsed) -> bool:
    if parsed is not None:
        return False
    end = len(text.rstrip())
    start = text.rfind("\n", 0, end) + 1  # the last line, without splitting all of them
    last = text[start:end]
    if len(last) > limits.MAX_INFOTEXT_PARAM_LINE or last.count(":") < 3:
        return False
    return len(RE_PARAM.findall(last)) >= 3


def tool_name(params: dict[str, str]) -> str:
    version = params.get("Version", "")
    if version == "ComfyUI":
        return "comfyui"
    if params.get("App") == "SD.Next":
        return "sdnext"
    if "Civitai resources" in params or "Created Date" in params:
        return "civitai"
    if re.match(r"^f\d", version) or version == "classic":
        return "forge"
    return "a1111"


# AIGIF field -> A1111 infotext key (matched case-insensitively; Size is split by parse_infotext)
FIELDS = {"steps": "Steps", "guidance": "CFG scale", "seed": "Seed", "width": "Size-1", "height": "Size-2"}


def _ci(params: dict[str, str]) -> dict[str, str]:
    return {k.lower(): k for k in params}


def apply_infotext(d: Draft, prompt: str, negative: str | None, params: dict[str, str]) -> None:
    """Map A1111 keys into the draft; every key not mapped is kept in `unmapped`."""
    d.set("prompt", prompt)
    if negative is not None:
        d.set("negative_prompt", negative)
    p = dict(params)
    keys = _ci(p)

    def take(name: str):
        k = keys.get(name.lower())
        if k is None or k not in p:
            return None
        return p.pop(k)

    d.take(take, FIELDS)

    sampler, schedule = take("Sampler"), take("Schedule type")
    if sampler:
        d.set_scheduler("a1111", sampler, schedule)

    hashes = {}
    raw_hashes = take("Hashes")
    if raw_hashes:
        hashes = loads(raw_hashes)
        if not isinstance(hashes, dict):
            d.leave("Hashes", raw_hashes, "not JSON")
            hashes = {}
    model_name, model_hash = take("Model"), take("Model hash")
    if model_hash is None:
        model_hash = hashes.pop("model", None)
    else:
        hashes.pop("model", None)
    for k in [k for k in hashes if k.lower().startswith("model:")]:
        if model_name is None:
            model_name = k.split(":", 1)[1]
        if model_hash is None:
            model_hash = hashes[k]
        hashes.pop(k)
    if model_name or model_hash:
        d.set_model(model_name, model_hash)

    vae_name, vae_hash = take("VAE"), take("VAE hash")
    if vae_hash is None:
        vae_hash = hashes.pop("vae", None)
    if vae_name or vae_hash:
        d.extend("vae", {k: v for k, v in (("name", vae_name), ("hash", vae_hash)) if v})

    clip_skip = take("Clip skip")
    if clip_skip is not None:
        n = to_int(clip_skip)
        if n is not None and n >= 1:
            d.extend("clip_skip", n)
        else:
            d.leave("Clip skip", clip_skip)

    vseed, vstr = take("Variation seed"), take("Variation seed strength")
    if vseed is not None:
        d.extend("variation", {"seed": to_int(vseed), "strength": to_number(vstr) if vstr is not None else 0})
    elif vstr is not None:
        d.leave("Variation seed strength", vstr)

    rng = {}
    src = take("RNG")
    if src:
        rng["source"] = src.lower()
    ensd = take("ENSD")
    if ensd is not None and to_int(ensd) is not None:
        rng["ensd"] = to_int(ensd)
    d.extend("rng", rng)

    eta = take("Eta") if "eta" in keys else take("Eta DDIM")
    if eta is not None:
        d.extend("eta", to_number(eta))

    hires = {}
    for key, field, conv in (
        ("Hires upscale", "scale", to_number),
        ("Hires steps", "steps", to_int),
        ("Hires upscaler", "upscaler", str),
        ("Hires resize-1", "width", to_int),
        ("Hires resize-2", "height", to_int),
    ):
        v = take(key)
        if v is not None:
            hires[field] = conv(v)
    hs, hsched = take("Hires sampler"), take("Hires schedule type")
    if hs:
        name = d.scheduler_name("a1111", hs, hsched)
        if name is not None:
            hires["scheduler"] = name
        elif tool_name(params) in A1111_SEMANTICS:
            p["Hires sampler"] = hs  # left for the semantics options (a1111_semantics)
        else:
            d.leave("Hires sampler", hs, "no AIGIF scheduler")
            if hsched:
                d.leave("Hires schedule type", hsched)
    denoise = take("Denoising strength")
    if denoise is not None:
        if hires:
            hires["denoise"] = to_number(denoise)
        else:
            d.extend("img2img", {"strength": to_number(denoise)})
    d.extend("hires", hires)

    refiner = {}
    r, rs = take("Refiner"), take("Refiner switch at")
    if r:
        refiner["model"] = d.model_ref(re.sub(r"\s*\[[0-9a-f]+\]$", "", r))
    if rs is not None:
        refiner["switch_at"] = to_number(rs)
    d.extend("refiner", refiner)

    # LoRA: only when listed separately (see the module docstring)
    lora_hashes = {}
    lh = take("Lora hashes")
    if lh:
        for part in lh.split(","):
            if ":" in part:
                name, hv = part.rsplit(":", 1)
                lora_hashes[name.strip()] = hv.strip()
    for k in [k for k in hashes if k.lower().startswith("lora:")]:
        lora_hashes.setdefault(k.split(":", 1)[1], hashes.pop(k))
    if lora_hashes:
        weights = {m.group(1): m.group(2) for m in RE_LORA_TAG.finditer(prompt or "")}
        loras = []
        for name, hv in lora_hashes.items():
            item = {"name": name, "weight": to_number(weights.get(name, 1)) or 0, "hash": hv}
            if name not in weights:
                d.warnings.append(f"LoRA '{name}' is listed but has no <lora:...> tag in the prompt; weight 1 assumed")
            loras.append(item)
        d.extend("lora", loras)
    if hashes:
        d.leave("Hashes", hashes)

    adetailer = {}
    for k in [k for k in p if k.startswith("ADetailer ")]:
        adetailer[k[len("ADetailer ") :]] = p.pop(k)
    d.extend("adetailer", adetailer)

    version = take("Version")
    take("App")  # "SD.Next": tool_name() records it
    source = {"tool": tool_name(params)}
    if version and tool_name(params) not in A1111_SEMANTICS:
        # For the A1111 family the Version string selects back-compat behaviours, so it is
        # semantics (spec §7.1.1) and written there once; repeating it in `source` cost up
        # to 36 bytes a file (Forge) for nothing a reader could not take from semantics.
        source["version"] = version
    d.extend("source", source)

    d.ignore([k for k in ("Created Date", "Operations") if take(k) is not None], "no effect on the pixels")
    cm = take("Civitai metadata")
    if cm not in (None, "{}", ""):
        d.leave("Civitai metadata", cm)
    res = take("Civitai resources")
    if res:
        resources = loads(res, default=res)
        d.leave("Civitai resources", resources, "Civitai model-version references")
        if "model" not in d.syntax and isinstance(resources, list):
            ckpt = next((r for r in resources if isinstance(r, dict) and r.get("type") == "checkpoint"), None)
            if ckpt and ckpt.get("modelName"):
                name = " ".join(str(x) for x in (ckpt.get("modelName"), ckpt.get("modelVersionName")) if x)
                d.set_model(name)
    if tool_name(params) in A1111_SEMANTICS:
        a1111_semantics(d, p, sampler, schedule, hsched, version)
    for k, v in p.items():
        d.leave(k, v)


# Tools whose infotext is in A1111's generation semantics (spec §7.1.1, engine a1111).
A1111_SEMANTICS = frozenset({"a1111", "forge", "sdnext", "civitai"})
# Pixel-affecting infotext keys that no SYNTAX field or other extension carries: kept
# verbatim as semantics options (the A1111 engine refuses a key it does not know).
A1111_OPTION_KEYS = (
    "Emphasis", "NGMS", "NGMS all steps", "Skip Early CFG", "Pad conds", "Pad conds v0",
    "Old prompt editing timelines", "Downcast alphas_cumprod", "Sigma churn", "Sigma tmin", "Sigma tmax",
    "Sigma noise", "Schedule rho", "Schedule min sigma", "Schedule max sigma", "Discard penultimate sigma",
    "Beta schedule alpha", "Beta schedule beta", "Hires sampler", "Hires prompt", "Hires negative prompt",
    "Hires CFG Scale", "Hires checkpoint",
)


def _option_value(v: str):
    if v in ("True", "False"):
        return v == "True"
    n = to_number(v)
    return n if n is not None and re.fullmatch(r"-?\d+(\.\d+)?", v.strip()) else v


def _hash_list(text: str) -> dict[str, str]:
    """A1111's "name: hash, name: hash" lists (Lora hashes, TI hashes)."""
    out = {}
    for part in text.split(","):
        if ":" in part:
            name, value = part.rsplit(":", 1)
            out[name.strip()] = value.strip()
    return out


def _same_schedule(entry, pair, schedule: str) -> bool:
    """Whether the scheduler ID already says this schedule type: its own, or "Automatic"
    where the table lists "Sampler|Automatic" for that entry."""
    if pair is None:
        return False
    if schedule == pair[1]:
        return True
    automatic = f"{pair[0]}|Automatic".lower()
    return schedule == "Automatic" and any(str(a).lower() == automatic for a in entry.aliases.get("a1111", ()))


def a1111_semantics(d: Draft, p: dict, sampler, schedule, hires_schedule, version) -> None:
    """Record what A1111's own code needs beyond the mapped fields: the semantics
    extension (engine, Version, options), the batch position and the embeddings."""
    reg = registry()
    options: dict = {}
    entry = reg.find_scheduler(d.syntax["scheduler"]) if reg is not None and "scheduler" in d.syntax else None
    pair = entry.a1111_sampler if entry is not None else None
    if sampler and pair is None:
        options["Sampler"] = sampler
    if schedule and not _same_schedule(entry, pair, schedule):
        options["Schedule type"] = schedule
    hires = d.ext.get("hires", {})
    hires_entry = reg.find_scheduler(hires["scheduler"]) if reg is not None and "scheduler" in hires else None
    hires_pair = hires_entry.a1111_sampler if hires_entry is not None else None
    if hires_schedule and not _same_schedule(hires_entry, hires_pair, hires_schedule):
        options["Hires schedule type"] = hires_schedule
    for key in A1111_OPTION_KEYS:
        if key in p:
            options[key] = _option_value(p.pop(key))
    w, h = p.pop("Seed resize from-1", None), p.pop("Seed resize from-2", None)
    if w is not None and h is not None:
        options["Seed resize from"] = f"{w}x{h}"
    size, pos = p.pop("Batch size", None), p.pop("Batch pos", None)
    if size is not None and to_int(size) is not None and to_int(size) > 1:
        d.extend("batch", {"size": to_int(size), "index": to_int(pos) or 0})
    ti = p.pop("TI hashes", None)
    if ti:
        d.extend("embeddings", [{"name": n, "hash": v} for n, v in _hash_list(ti).items()])
    semantics: dict = {"engine": "a1111"}
    if version:
        semantics["version"] = version
    if options:
        semantics["options"] = options
    d.extend("semantics", semantics)


def detect(c) -> bool:
    return looks_like_infotext(c.get("parameters") or c.get("UserComment") or c.get("Comment"), c)


def parse(c) -> Draft | None:
    text = c.get("parameters")
    if not looks_like_infotext(text, c):
        text = c.get("UserComment") if looks_like_infotext(c.get("UserComment"), c) else c.get("Comment")
    prompt, negative, params = parse_infotext(text)
    d = Draft(tool_name(params))
    apply_infotext(d, prompt, negative, params)
    extras = c.get("extras")
    if extras:  # A1111 (2022) "Extras" tab postprocessing, applied after generation
        d.leave("extras", extras, "postprocessing after generation")
    return d


register("a1111", detect, parse, priority=10)
