"""The AIGIF file itself, embedded by `aigif unpack` (and `aigif export --embed`): a PNG
`aigif` text chunk, or the XMP property aigif:data in a JPEG or WebP, holding the file in
base64 (aigif.exporters.embed).  Tried before every tool's text: it is the exact syntax,
where the A1111 text beside it is a translation (it cannot say which engine ran).

A copy that does not decode is reported and the next parser (the A1111 text) is tried."""

from __future__ import annotations

import base64
import binascii

from aigif.defaults import resolve
from aigif.errors import AigifError
from aigif.format import decode
from aigif.jsonform import syntax_to_dict
from aigif.registry import DEFAULT_MODEL_ID, get_registry

from ..draft import Draft
from ..registered import register

KEY = "aigif"


def detect(c) -> bool:
    return c.get(KEY) is not None


def parse(c) -> Draft:
    try:
        data = base64.b64decode(c.get(KEY).strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"the embedded AIGIF copy is not base64: {e}") from None
    try:
        syntax = decode(data)
    except AigifError as e:  # a broken copy must not hide the A1111 text beside it
        raise ValueError(f"the embedded AIGIF copy does not decode ({e.code}: {e})") from None
    if not syntax.has_syntax:
        return None
    d = syntax_to_dict(syntax)
    d.pop("payloads", None)
    if "model" not in d:  # absent = the default model (spec §5.3); the importer reads absent as unknown
        d["model"] = get_registry().model(DEFAULT_MODEL_ID).name
    try:
        # the size too, or the importer takes it from the pixels (and says it guessed)
        r = resolve(syntax)
        d.setdefault("width", r.width)
        d.setdefault("height", r.height)
    except AigifError:
        pass  # a model this registry cannot resolve: the size stays absent, as in the file
    draft = Draft("aigif")
    draft.ext = d.pop("extensions", {})
    draft.syntax = d
    return draft


register("aigif", detect, parse, priority=100)
