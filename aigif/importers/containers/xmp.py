"""XMP packets: only the few properties generation tools use (Draw Things writes its
parameters as exif:UserComment).  Regular expressions instead of an XML parser: an XMP
packet is untrusted input and needs no entity expansion to yield these strings."""

from __future__ import annotations

import html
import re

from .fields import Container, Field

_PROPS = {"exif:UserComment": "UserComment", "dc:description": "ImageDescription", "sd:parameters": "parameters",
          "aigif:data": "aigif"}  # the last: the AIGIF file aigif unpack embeds (tools/aigif_embedded.py)
_ATTR = r"\b{p}\s*=\s*\"([^\"]*)\""
_WORD_CHAR = re.compile(r"\w")  # what ends `\b` after the name


def element_text(text: str, name: str) -> str | None:
    """The content of the first `<name ...>...</name>` that is closed, like the regex
    `<name\\b[^>]*>(.*?)</name>` (re.S), in one pass.  That regex retries from every
    opening tag and scans to the end for each: unclosed elements repeated 20,000 times
    made it quadratic.  If the first opening tag has no `>` or no closing tag after it,
    no later one has either."""
    opening, closing = "<" + name, "</" + name + ">"
    pos = text.find(opening)
    while pos >= 0:
        after = pos + len(opening)
        if _WORD_CHAR.match(text, after):
            pos = text.find(opening, after)  # a longer name (`<dc:descriptionX`): not this element
            continue
        gt = text.find(">", after)
        if gt < 0:
            return None
        close = text.find(closing, gt + 1)
        return None if close < 0 else text[gt + 1 : close]
    return None


def read_into(c: Container, packet: bytes, where: str) -> None:
    text = packet.decode("utf-8", "replace")
    for prop, key in _PROPS.items():
        inner = element_text(text, prop)
        value = None
        if inner is not None:
            li = element_text(inner, "rdf:li")
            value = li if li is not None else inner
        else:
            m = re.search(_ATTR.format(p=re.escape(prop)), text)
            if m:
                value = m.group(1)
        if value is not None and value.strip():
            value = html.unescape(value)
            c.fields.append(Field(f"{where}:{prop}", key, value, len(value.encode())))
