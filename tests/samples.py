"""Sample builders for the tests: small images with given metadata, A1111 infotext, .aigif
files built segment by segment, pixel content, and hostile variants of each.

Every sample is generated in code (nothing on disk is needed) and built independently of
the code under test where that is cheap: PNG chunks are framed here, not with
aigif.pngchunks, so a bug in the writer cannot hide the same bug in the reader. The .aigif
builders do use aigif.container / segments, because the point of those samples is a valid
frame around a chosen (often hostile) body.

Import it as `from samples import ...`: tests/conftest.py is a rootdir conftest (tests/ has
no __init__.py), so pytest's default "prepend" import mode puts tests/ on sys.path for
every test module, in tests/ and in its subfolders alike.
"""

from __future__ import annotations

import functools
import io
import json
import random
import struct
import zlib
from collections.abc import Iterator

import msgpack
import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from aigif import container
from aigif.bits import leb128
from aigif.container import ANCILLARY, EXTENSION, FIDELITY, PIXELS, SAFE_TO_COPY, SYNTAX, Segment
from aigif.errors import ExitStatus
from aigif.segments.syntax import encode_body
from aigif.syntax import Syntax

# =============================================================================================
# PNG, built chunk by chunk
# =============================================================================================
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC-32 of type + body."""
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_ihdr(width: int, height: int) -> bytes:
    """An IHDR chunk for 8-bit RGB of the given (possibly absurd) size."""
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_text_chunk(key: str, value: str) -> bytes:
    """A tEXt chunk `key\\0value` (Latin-1, as PNG defines tEXt)."""
    return png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))


def text_only_png(width: int = 64, height: int = 64, chunks=()) -> bytes:
    """A PNG with an IHDR declaring `width` x `height`, the given chunks, and IEND - but no
    pixel data: a metadata reader accepts it, a pixel decoder must refuse it."""
    return PNG_SIGNATURE + png_ihdr(width, height) + b"".join(chunks) + png_chunk(b"IEND", b"")


def png_declaring_size(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` but whose IDAT holds 100 zero bytes:
    a decompression bomb when the size is huge, truncated pixel data when it is small. A
    decoder must check the header against its pixel limit before allocating."""
    return (PNG_SIGNATURE + png_ihdr(width, height) + png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + png_chunk(b"IEND", b""))


# =============================================================================================
# Real images (Pillow), with metadata
# =============================================================================================
def png_image(size=(64, 64), *, mode: str = "RGB", colour=None, text: dict | None = None,
              itext: dict | None = None) -> bytes:
    """A decodable PNG of one flat colour, with tEXt chunks for `text` and iTXt chunks for
    `itext` (key -> value). The colour defaults to (10, 20, 30) cut to the mode's bands."""
    if colour is None:
        colour = 10 if mode == "L" else (10, 20, 30, 255)[: len(mode)]
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    for k, v in (itext or {}).items():
        info.add_itxt(k, v)
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def a1111_png(infotext: str) -> bytes:
    """An 8x8 black PNG holding `infotext` in an iTXt `parameters` chunk, as A1111 saves it."""
    return png_image((8, 8), colour=(0, 0, 0), itext={"parameters": infotext})


def comfyui_png(graph: dict) -> bytes:
    """An 8x8 black PNG holding a ComfyUI API graph in a tEXt `prompt` chunk, as ComfyUI
    saves it."""
    return png_image((8, 8), colour=(0, 0, 0), text={"prompt": json.dumps(graph)})


def image_bytes(fmt: str, size=(16, 16), colour=(200, 100, 50)) -> bytes:
    """A flat-colour RGB image saved by Pillow in `fmt` (JPEG, WEBP, GIF, TIFF, ...)."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


def animated_png(colours=("red", "blue"), size=(8, 8)) -> bytes:
    """An APNG with one flat frame per colour (a still-image codec must refuse it)."""
    frames = [Image.new("RGB", size, c) for c in colours]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    return buf.getvalue()


# =============================================================================================
# Pixel content
# =============================================================================================
def smooth_image(w: int = 96, h: int = 64, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """Natural-ish content: low-frequency waves plus mild noise (lossy codecs do well on it);
    RGBA adds a horizontal alpha ramp. The same seed gives the same pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for _ in range(3):
        f1, f2, ph = rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08), rng.uniform(0, 6)
        chans.append(128 + 80 * np.sin(f1 * x + ph) * np.cos(f2 * y) + rng.normal(0, 2, (h, w)))
    if mode == "RGBA":
        chans.append(np.linspace(0, 255, w)[None, :].repeat(h, 0))
    a = np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)
    return Image.fromarray(a, mode)


def perturbed_image(im: Image.Image, seed: int) -> Image.Image:
    """`im` with every sample moved by -1, 0 or +1 (clipped): a regeneration that is off by
    rounding, as another platform's would be."""
    rng = np.random.default_rng(seed)
    a = np.asarray(im, np.int16)
    noise = rng.integers(-1, 2, a.shape)
    return Image.fromarray(np.clip(a + noise, 0, 255).astype(np.uint8), im.mode)


def corruptions(data: bytes, rng: random.Random, n: int) -> Iterator[bytes]:
    """Damaged copies of a payload: empty, five truncations, `n` copies with 1-4 flipped
    bits, and 64 random bytes."""
    yield b""
    for cut in (1, 8, 16, len(data) // 2, len(data) - 1):
        yield data[:cut]
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        yield bytes(b)
    yield bytes(rng.randrange(256) for _ in range(64))


# =============================================================================================
# Tool metadata
# =============================================================================================
def a1111_infotext(seed: int = 1) -> str:
    """A minimal A1111 infotext (prompt line + parameter line) with a given seed."""
    return f"a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: 512x512, Model: sd-1.5"


A1111_INFOTEXT = a1111_infotext()


def exif_amplifier(region: int, entries: int = 1024) -> bytes:
    """One TIFF IFD whose `entries` UserComment tags all point at the same `region` bytes:
    a 1 MB blob that a reader copying each tag turns into entries x region bytes."""
    data_at = 8 + 2 + 12 * entries + 4
    ifd = b"".join(struct.pack("<HHII", 0x9286, 7, region, data_at) for _ in range(entries))
    return (b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", entries) + ifd + struct.pack("<I", 0)
            + b"ASCII\0\0\0" + b"y" * (region - 8))


def exif_ifd_loop() -> bytes:
    """A TIFF whose one IFD links to an Exif sub-IFD at its own offset: an endless walk for
    a reader that does not remember where it has been."""
    return (b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8))


@functools.lru_cache(maxsize=None)
def hostile_images() -> dict[str, tuple[bytes, ExitStatus | None]]:
    """Images an importer meets in the wild or from an attacker, by name -> (file bytes, the
    exit status `aigif import` must end with; None = it imports). Built once (the zlib bombs
    take a moment)."""
    png = png_image(text={"parameters": A1111_INFOTEXT})
    bomb = zlib.compress(b"a" * (64 << 20), 9)
    return {
        "empty": (b"", ExitStatus.MALFORMED),
        "text": (b"not an image at all", ExitStatus.MALFORMED),
        "gif": (image_bytes("GIF"), ExitStatus.MALFORMED),
        "signature-only": (PNG_SIGNATURE, ExitStatus.MALFORMED),
        "no-ihdr": (PNG_SIGNATURE + png_text_chunk("parameters", A1111_INFOTEXT) + png_chunk(b"IEND", b""),
                    ExitStatus.MALFORMED),
        "truncated-before-text": (png_image()[:60], ExitStatus.NO_METADATA),
        "jpeg-soi-only": (b"\xff\xd8", ExitStatus.NO_METADATA),
        "jpeg-zero-length-segment": (b"\xff\xd8\xff\xe1\x00\x00", ExitStatus.NO_METADATA),
        "riff-only": (b"RIFF\xff\xff\xff\xffWEBP", ExitStatus.NO_METADATA),
        "webp-chunk-past-end": (b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\xffII*\0", ExitStatus.NO_METADATA),
        "ztxt-bomb": (text_only_png(chunks=[png_chunk(b"zTXt", b"parameters\0\0" + bomb)]), ExitStatus.LIMIT),
        "itxt-bomb": (text_only_png(chunks=[png_chunk(b"iTXt", b"parameters\0\1\0\0\0" + bomb)]), ExitStatus.LIMIT),
        "ztxt-corrupt": (text_only_png(chunks=[png_chunk(b"zTXt", b"parameters\0\0notzlib")]), ExitStatus.NO_METADATA),
        "many-chunks": (text_only_png(chunks=[png_chunk(b"abCD", b"")] * 70_000), ExitStatus.LIMIT),
        "exif-ifd-loop": (text_only_png(chunks=[png_chunk(b"eXIf", exif_ifd_loop())]), ExitStatus.NO_METADATA),
        "truncated-after-text": (png[: len(png) - 30], None),  # the text survives the cut: imported
    }


# =============================================================================================
# .aigif files, segment by segment
# =============================================================================================
def syntax_segment(**fields) -> Segment:
    """A critical SYNTAX segment for Syntax(**fields); no check that a decoder accepts it
    (e.g. model=987654 names no registry entry)."""
    return Segment(SYNTAX, encode_body(Syntax(**fields)))


SYNTAX_BODY = encode_body(Syntax(prompt="x"))  # the smallest useful SYNTAX body


def aigif_file(segments: list[Segment]) -> bytes:
    """A whole .aigif file around `segments`: signature, version, framing, END, CRC - so the
    segment parsers are reached whatever the bodies hold."""
    return container.pack(segments)


def extension_segment(code: int, payload, critical: bool = True) -> Segment:
    """An EXTENSION segment for type code `code`; `payload` is msgpack-packed unless it is
    already bytes (to send raw garbage). Ancillary ones are marked safe-to-copy."""
    body = payload if isinstance(payload, bytes) else msgpack.packb(payload, use_bin_type=True)
    t = EXTENSION if critical else ANCILLARY | SAFE_TO_COPY | EXTENSION
    return Segment(t, leb128(code) + body)


def pixels_file(payload: bytes, codec_id: int = 1, fidelity: bytes | None = None) -> bytes:
    """A pixels-only .aigif: one critical PIXELS segment (codec `codec_id`, `payload` as is),
    preceded by a FIDELITY segment of method 1 with digest `fidelity` when given."""
    segs = []
    if fidelity is not None:
        segs.append(Segment(ANCILLARY | FIDELITY, b"\x01" + fidelity))
    segs.append(Segment(PIXELS, leb128(codec_id) + payload))
    return aigif_file(segs)


def pixels_only_aigif() -> bytes:
    """A valid pixels-only file (an 8x8 PNG payload): unpack needs no model, so tests that
    use it stay fast."""
    return pixels_file(png_image((8, 8)))
