"""Reading and writing the images the CLI touches: bounded, with AIGIF's errors (§9)."""

from __future__ import annotations

import io
import warnings

from .. import limits
from ..errors import CodecError, LimitExceeded
from ..fileio import read_bytes, write_atomic


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
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            raise CodecError(f"cannot decode {what} {path}: {e}") from None


def save_png(image, path) -> None:
    """Write `image` as PNG atomically (no partial file on failure)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    write_atomic(path, buf.getvalue())
