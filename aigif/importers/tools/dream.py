"""lstein/stable-diffusion dream.py and InvokeAI 2.x: the `Dream` chunk, a command line
`"prompt [negative]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms ...`; switches may be
glued to their values (`-s50`), and InvokeAI 2.x writes long options too (`--seamless`,
`--hires_fix`, `--perlin 0.1`, `--steps=30`).  Early dream.py versions wrote the prompt as
it was typed, unquoted (`a cat -s50 -S42`)."""

from __future__ import annotations

import re

from ..draft import Draft, to_float
from ..registered import register
from .invokeai import split_invoke2_prompt

# switch -> (meaning, number of values); longest first so "-cf" wins over "-C"
_SWITCHES = {
    "cf": ("codeformer_fidelity", 1),
    "ft": ("facetool", 1),
    "s": ("steps", 1),
    "S": ("seed", 1),
    "W": ("width", 1),
    "H": ("height", 1),
    "C": ("cfg", 1),
    "A": ("sampler", 1),
    "G": ("gfpgan_strength", 1),
    "U": ("upscale", 2),
    "f": ("strength", 1),
    "I": ("init_img", 1),
    "v": ("variation_amount", 1),
    "V": ("with_variations", 1),
    "n": ("iterations", 1),
    "b": ("batch_size", 1),
    "t": ("tokenize", 0),
    "F": ("fit", 0),
    "x": ("skip_normalize", 0),
    "M": ("init_mask", 1),
}
_SWITCH = re.compile(r"^-(cf|ft|[A-Za-z])(.*)$")
# --name, --name=value; the long spellings of the short switches mean the same
_LONG = re.compile(r"^--([A-Za-z][\w-]*)(?:=(.*))?$", re.S)
_LONG_NAMES = {"steps": "steps", "seed": "seed", "width": "width", "height": "height", "cfg_scale": "cfg",
               "sampler": "sampler", "sampler_name": "sampler", "strength": "strength", "init_img": "init_img",
               "init_mask": "init_mask", "variation_amount": "variation_amount", "with_variations": "with_variations",
               "iterations": "iterations", "gfpgan_strength": "gfpgan_strength", "upscale": "upscale",
               "facetool": "facetool", "codeformer_fidelity": "codeformer_fidelity", "fit": "fit"}


def _is_switch(token: str) -> bool:
    return bool(_SWITCH.match(token) or _LONG.match(token))


# POSIX shell words as shlex.split(line) reads them, in one regex pass.  shlex builds each
# token one character at a time (`token = token + c` on an attribute): quadratic, 19 s
# for a 1 MB line.  Parts: plain characters, a backslash escape, '...', "..." (where a
# backslash escapes only `"` and itself), white space between words.
_WORD_PART = re.compile(r"""([^ \t\r\n'"\\]++)|\\(.)|'([^']*+)'|"((?:[^"\\]|\\.)*+)"|([ \t\r\n]++)""", re.S)
_DQ_ESCAPE = re.compile(r'\\(["\\])')


def shell_words(line: str) -> list[str]:
    """shlex.split(line) (POSIX mode, no comments), linear in the line; ValueError on an
    unclosed quote or a trailing backslash, as shlex."""
    words: list[str] = []
    parts: list[str] = []
    started = False
    pos, end = 0, len(line)
    while pos < end:
        m = _WORD_PART.match(line, pos)
        if m is None:
            raise ValueError("No closing quotation" if line[pos] in "'\"" else "No escaped character")
        pos = m.end()
        plain, escaped, single, double, space = m.groups()
        if space is not None:
            if started:
                words.append("".join(parts))
                parts, started = [], False
            continue
        started = True
        if plain is not None:
            parts.append(plain)
        elif escaped is not None:
            parts.append(escaped)
        elif single is not None:
            parts.append(single)
        else:
            parts.append(_DQ_ESCAPE.sub(r"\1", double))
    if started:
        words.append("".join(parts))
    return words


def parse_dream(line: str) -> tuple[str, dict[str, list[str]]]:
    tokens = shell_words(line)
    if not tokens:
        raise ValueError("empty Dream line")
    prompt_parts, opts = [], {}
    i = 0
    while i < len(tokens) and not _is_switch(tokens[i]):
        prompt_parts.append(tokens[i])
        i += 1
    while i < len(tokens):
        token = tokens[i]
        i += 1
        long = _LONG.match(token)
        if long:
            # a long option takes the values up to the next switch (none for a flag)
            name = _LONG_NAMES.get(long.group(1), "--" + long.group(1))
            vals = [long.group(2)] if long.group(2) is not None else []
            while long.group(2) is None and i < len(tokens) and not _is_switch(tokens[i]):
                vals.append(tokens[i])
                i += 1
            opts[name] = vals
            continue
        m = _SWITCH.match(token)
        if not m:
            opts.setdefault("_extra", []).append(token)
            continue
        sw, glued = m.group(1), m.group(2)
        name, nvals = _SWITCHES.get(sw, (f"-{sw}", 1))
        vals = [glued] if glued else []
        while len(vals) < nvals and i < len(tokens) and not _is_switch(tokens[i]):
            vals.append(tokens[i])
            i += 1
        opts[name] = vals
    return " ".join(prompt_parts), opts


def detect(c) -> bool:
    """A quoted prompt (every dream.py since its PNG writer normalised the line), or an
    unquoted one followed by at least one switch (the early, as-typed lines)."""
    v = c.get("Dream")
    if not v or not v.strip():
        return False
    return v.lstrip().startswith('"') or _HAS_SWITCH.search(v) is not None


_HAS_SWITCH = re.compile(r"(?:^|\s)-(?:[sSWHCA]\S|[sSWHCA]\s+\S)")
# AIGIF field -> parse_dream's option name (long and short switches already merged)
FIELDS = {"steps": "steps", "seed": "seed", "width": "width", "height": "height", "guidance": "cfg"}


def parse(c) -> Draft:
    prompt_text, o = parse_dream(c.get("Dream"))
    d = Draft("dream")
    prompt, negative = split_invoke2_prompt(prompt_text)
    d.set("prompt", prompt)
    d.set("negative_prompt", negative)

    def one(k):
        v = o.pop(k, None)
        return v[0] if v else None

    d.take(one, FIELDS)
    d.set_scheduler("invoke2", one("sampler"))
    strength = one("strength")
    if strength is not None:
        if to_float(strength) is None:
            d.leave("strength", strength, "not a finite number")
        else:
            d.extend("img2img", {"strength": to_float(strength)})
    for k in ("gfpgan_strength", "codeformer_fidelity", "upscale", "facetool"):
        if k in o:
            d.leave(k, " ".join(o.pop(k)), "postprocessing after generation")
    for k, v in o.items():
        d.leave(k, " ".join(v) if v else True)
    d.extend("source", {"tool": "dream.py"})
    return d


register("dream", detect, parse, priority=60)
