"""Turn an AIGIF syntax back into what other tools read.

    to_a1111(syntax) -> str     A1111 infotext (the `parameters` chunk)
    to_comfyui(syntax) -> dict  a ComfyUI API prompt graph that ComfyUI can queue
    to_json(syntax) -> dict     the AIGIF JSON form (spec §8), every field concrete
    embed_a1111(syntax, image_path, out_path)   a copy of a PNG, JPEG or WebP carrying the infotext
    embed_metadata(image_bytes, text, aigif_bytes)  the same on bytes (also the AIGIF file)

`syntax` is an aigif.Syntax or its JSON-form dict.
"""

from __future__ import annotations

from .a1111 import to_a1111
from .a1111 import unexpressed as a1111_unexpressed
from .comfyui import to_comfyui
from .embed import embed_a1111, embed_metadata, image_format
from .json_form import to_json

__all__ = ["to_a1111", "to_comfyui", "to_json", "embed_a1111", "embed_metadata", "image_format", "a1111_unexpressed"]
