"""Write generation metadata into a copy of a PNG, JPEG or WebP file, where the importers
(and A1111, ComfyUI's loaders, exiftool) read it.  Written atomically.

    PNG   `parameters`: tEXt when the text is Latin-1, else uncompressed iTXt (what A1111
          does), placed right after IHDR; `aigif`: a tEXt chunk of its own holding the
          AIGIF file in base64 (what `aigif import` takes first, exactly)
    JPEG  APP1 EXIF with UserComment = the A1111 text ("UNICODE", UTF-16 big-endian, as
          A1111 writes it through piexif), APP1 XMP with aigif:data = the AIGIF base64;
          placed after SOI and any APP0 (JFIF)
    WebP  the same EXIF and XMP as RIFF chunks, flagged in a VP8X header (added when the
          file is a simple VP8/VP8L one)

Any earlier `parameters`/`aigif` text chunk, EXIF or XMP of the file is replaced: the old
values describe another image.  Pixels are never decoded or re-encoded.
"""

from __future__ import annotations

import base64
import struct

from aigif import limits, pngchunks
from aigif.errors import FormatError, UnsupportedFeature
from aigif.fileio import read_bytes, write_atomic

from .a1111 import to_a1111

_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
AIGIF_KEY = "aigif"  # PNG keyword / XMP property of the embedded AIGIF file
XMP_NAMESPACE = "https://aigif.dev/ns/1.0/"
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
_JPEG_SEGMENT_MAX = 65533  # a JPEG marker segment's body, length field included, is at most 65535 bytes


class MetadataTooLong(UnsupportedFeature):
    """The metadata does not fit the format's field (a JPEG marker segment: 64 KiB)."""


def image_format(data: bytes) -> str | None:
    """'PNG', 'JPEG', 'WEBP' from a file's signature, else None."""
    if data.startswith(pngchunks.SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def parameters_chunk(text: str, key: str = "parameters") -> bytes:
    try:
        return pngchunks.write_chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return pngchunks.write_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def embed_text(png: bytes, text: str, key: str = "parameters") -> bytes:
    """A copy of a PNG with one text chunk `key` (any earlier one dropped)."""
    return embed_png(png, {key: text})


def embed_png(png: bytes, texts: dict[str, str]) -> bytes:
    """A copy of a PNG with a text chunk for each key of `texts`, after IHDR; earlier text
    chunks with those keys are dropped."""
    if not png.startswith(pngchunks.SIGNATURE):
        raise UnsupportedFeature("this is not a PNG file")
    out = [pngchunks.SIGNATURE]
    inserted = False
    markers = tuple(k.encode("latin-1") + b"\0" for k in texts)
    for chunk in pngchunks.chunks(png):
        if not chunk.complete:
            raise FormatError("the PNG to embed into is truncated", where="export")
        if chunk.type in _TEXT_TYPES and any(png[chunk.body_start : chunk.body_start + len(m)] == m for m in markers):
            continue
        out.append(png[chunk.start : chunk.end])
        if chunk.type == b"IHDR" and not inserted:
            out.extend(parameters_chunk(text, key) for key, text in texts.items())
            inserted = True
    if not inserted:
        raise FormatError("the PNG to embed into has no IHDR chunk", where="export")
    return b"".join(out)


def exif_user_comment(text: str) -> bytes:
    """A big-endian TIFF with IFD0 -> Exif IFD -> UserComment (0x9286, UNDEFINED)."""
    comment = b"UNICODE\0" + text.encode("utf-16-be")
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, 26) + struct.pack(">I", 0)  # Exif IFD at 26
    exif_ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), 44) + struct.pack(">I", 0)
    return b"MM\0*" + struct.pack(">I", 8) + ifd0 + exif_ifd + comment  # 8 + 18 + 18 = 44: the comment's offset


def xmp_packet(aigif_b64: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:aigif="{XMP_NAMESPACE}" aigif:data="{aigif_b64}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
    ).encode("utf-8")


def embed_metadata(data: bytes, text: str | None, aigif_bytes: bytes | None = None) -> bytes:
    """A copy of an image file (PNG, JPEG, WebP) carrying the A1111 text and the AIGIF file."""
    b64 = base64.b64encode(aigif_bytes).decode("ascii") if aigif_bytes else None
    fmt = image_format(data)
    if fmt == "PNG":
        texts = {}
        if text is not None:
            texts["parameters"] = text
        if b64 is not None:
            texts[AIGIF_KEY] = b64
        return embed_png(data, texts)
    exif = b"Exif\0\0" + exif_user_comment(text) if text is not None else None
    xmp = xmp_packet(b64) if b64 is not None else None
    if fmt == "JPEG":
        return _embed_jpeg(data, exif, xmp)
    if fmt == "WEBP":
        return _embed_webp(data, exif[6:] if exif else None, xmp)
    raise UnsupportedFeature("metadata can be embedded into PNG, JPEG and WebP files only")


def _embed_jpeg(data: bytes, exif: bytes | None, xmp: bytes | None) -> bytes:
    for what, body in (("EXIF", exif), ("XMP", xmp)):
        if body is not None and len(body) > _JPEG_SEGMENT_MAX:
            raise MetadataTooLong(f"the metadata is too long for a JPEG {what} segment ({len(body)} bytes, at most "
                                  f"{_JPEG_SEGMENT_MAX}); write a PNG or WebP instead")
    ours = b"".join(b"\xff\xe1" + struct.pack(">H", len(b) + 2) + b for b in (exif, _XMP_ID + xmp if xmp else None) if b)
    out = [data[:2]]
    pos = 2
    placed = False
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise FormatError("the JPEG to embed into is truncated or corrupt", where="export")
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9) or not 0xC0 <= marker <= 0xFE:
            break  # start of scan (or an odd marker): everything from here is copied as it is
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise FormatError("the JPEG to embed into is truncated", where="export")
        body = data[pos + 4 : end]
        if marker != 0xE0 and not placed:
            out.append(ours)
            placed = True
        replaced = marker == 0xE1 and (body.startswith(b"Exif\0") and exif is not None or body.startswith(_XMP_ID) and xmp is not None)
        if not replaced:
            out.append(data[pos:end])
        pos = end
    if not placed:
        out.append(ours)
    out.append(data[pos:])
    return b"".join(out)


def _embed_webp(data: bytes, exif: bytes | None, xmp: bytes | None) -> bytes:
    size = struct.unpack("<I", data[4:8])[0]
    if size + 8 > len(data) or size < 4:
        raise FormatError("the WebP to embed into is truncated", where="export")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= size + 8:
        fourcc, length = struct.unpack("<4sI", data[pos : pos + 8])
        if pos + 8 + length > size + 8:
            raise FormatError("the WebP to embed into is truncated", where="export")
        chunks.append((fourcc, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    kinds = [c[0] for c in chunks]
    if b"ANIM" in kinds:
        raise UnsupportedFeature("cannot embed metadata into an animated WebP")
    if b"VP8X" not in kinds:
        image = next((c for c in chunks if c[0] in (b"VP8 ", b"VP8L")), None)
        if image is None:
            raise FormatError("the WebP to embed into has no image chunk", where="export")
        w, h = _webp_size(*image)
        flags = 0x10 if b"ALPH" in kinds or (image[0] == b"VP8L" and len(image[1]) >= 5 and image[1][4] & 0x10) else 0
        chunks.insert(0, (b"VP8X", bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")))
    keep = [c for c in chunks if not (c[0] == b"EXIF" and exif is not None or c[0] == b"XMP " and xmp is not None)]
    # EXIF and XMP come after the image data (WebP container spec)
    keep += [(b"EXIF", exif)] * (exif is not None) + [(b"XMP ", xmp)] * (xmp is not None)
    fourcc, body = keep[0]
    flags = body[0] | (0x08 if any(c[0] == b"EXIF" for c in keep) else 0) | (0x04 if any(c[0] == b"XMP " for c in keep) else 0)
    keep[0] = (fourcc, bytes([flags]) + body[1:])
    payload = b"".join(f + struct.pack("<I", len(b)) + b + b"\0" * (len(b) & 1) for f, b in keep)
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def _webp_size(fourcc: bytes, body: bytes) -> tuple[int, int]:
    if fourcc == b"VP8L" and len(body) >= 5:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if fourcc == b"VP8 " and len(body) >= 10:
        return struct.unpack("<H", body[6:8])[0] & 0x3FFF, struct.unpack("<H", body[8:10])[0] & 0x3FFF
    raise FormatError("the WebP to embed into has a corrupt image header", where="export")


def embed_a1111(syntax, image_path, out_path, aigif_bytes: bytes | None = None) -> bytes:
    """A copy of the image at `image_path` (PNG, JPEG, WebP) carrying the syntax's A1111
    infotext (and the AIGIF file when given), written to `out_path`."""
    data = read_bytes(image_path, limits.MAX_FILE_BYTES, "image")
    out = embed_metadata(data, to_a1111(syntax), aigif_bytes)
    write_atomic(out_path, out)
    return out
