"""XMP packets: only the few properties generation tools use (Draw Things writes its
parameters as exif:UserComment).  Regular expressions instead of an XML parser: an XMP
packet is untrusted input and needs no entity expansion to yield these strings."""

from __future__ import annotations

import html
import re

from . import Container, Field

_PROPS = {"exif:UserComment": "UserComment", "dc:description": "ImageDescription", "sd:parameters": "parameters"}
_ELEMENT = r"<{p}\b[^>]*>(.*?)</{p}>"
_ATTR = r"\b{p}\s*=\s*\"([^\"]*)\""
_LI = re.compile(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", re.S)


def read_into(c: Container, packet: bytes, where: str) -> None:
    text = packet.decode("utf-8", "replace")
    for prop, key in _PROPS.items():
        m = re.search(_ELEMENT.format(p=re.escape(prop)), text, re.S)
        value = None
        if m:
            inner = m.group(1)
            li = _LI.search(inner)
            value = li.group(1) if li else inner
        else:
            m = re.search(_ATTR.format(p=re.escape(prop)), text)
            if m:
                value = m.group(1)
        if value is not None and value.strip():
            value = html.unescape(value)
            c.fields.append(Field(f"{where}:{prop}", key, value, len(value.encode())))
