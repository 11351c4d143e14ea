"""Reading and writing the images the CLI touches: bounded, with AIGIF's errors (§9)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import dataclasses

from .. import exporters, limits
from ..errors import AigifError, CodecError, LimitExceeded, UnsupportedFeature
from ..exporters.embed import embed_metadata
from ..fileio import read_bytes, write_atomic
from ..format import encode


def open_image(path, what: str = "image"):
    """Read (bounded, regular files only) and decode an image, its pixel count checked
    against MAX_PIXELS before the pixels are decoded (§9.1)."""
    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path, what=what)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
        try:
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > limits.MAX_PIXELS:
                raise LimitExceeded(f"{what} {path} is {im.width}x{im.height}, over the {limits.MAX_PIXELS}-pixel limit")
            im.load()
            return im
        except Image.DecompressionBombError as e:
            raise LimitExceeded(f"{what} {path}: {e}") from None
        except UnidentifiedImageError:  # its message holds the repr of our BytesIO, not the file's name
            raise CodecError(f"cannot decode {what} {path}: not an image format Pillow can read") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise CodecError(f"cannot decode {what} {path}: {e}") from None


def metadata_of(syntax, warn) -> tuple[str | None, bytes | None] | None:
    """(A1111 infotext, AIGIF bytes) to embed in an output image, None for a pixels-only
    file.  The AIGIF copy leaves out the payloads: the image written is the pixels, and a
    kept original or a residual would multiply its size."""
    if not syntax.has_syntax:
        return None
    try:
        text = exporters.to_a1111(syntax)
    except AigifError as e:  # the AIGIF copy below still carries everything
        warn(f"no A1111 parameters in the image ({e})")
        text = None
    return text, encode(dataclasses.replace(syntax, payloads=[]))


def save_png(image, path) -> None:
    """Write `image` as PNG atomically (no partial file on failure)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    write_atomic(path, buf.getvalue())


# The output formats `unpack` writes, by file extension.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
DEFAULT_QUALITY = 95


def format_for(path) -> str | None:
    """'PNG', 'JPEG' or 'WEBP' for an output path's extension, None for any other."""
    return OUTPUT_FORMATS.get(Path(path).suffix.lower())


def encode_image(image, fmt: str = "PNG", quality: int = DEFAULT_QUALITY) -> bytes:
    """An image file's bytes: PNG (lossless), JPEG or WebP at `quality` (1-100; WebP 100
    is lossless).  JPEG has no alpha: a transparent image is refused, never flattened
    silently onto a colour the user did not choose."""
    buf = io.BytesIO()
    if fmt == "PNG":
        image.save(buf, format="PNG")
    elif fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            if "A" in image.mode or "transparency" in image.info:
                raise UnsupportedFeature("the image has an alpha channel, which JPEG cannot hold: write .png or .webp")
            image = image.convert("RGB")
        image.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        image.save(buf, format="WEBP", lossless=quality >= 100, quality=quality, method=4)
    else:
        raise ValueError(f"unknown output format {fmt}")
    return buf.getvalue()


def save_image(image, path, fmt: str = "PNG", quality: int = DEFAULT_QUALITY, metadata=None) -> None:
    """Write `image` atomically as `fmt`; metadata = (A1111 text or None, AIGIF bytes or
    None) is embedded where the importers read it (aigif.exporters.embed)."""
    data = encode_image(image, fmt, quality)
    if metadata is not None:
        data = embed_metadata(data, *metadata)
    write_atomic(path, data)
