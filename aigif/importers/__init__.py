"""Import generation metadata that other tools embed in their images.

    result = aigif.importers.import_image("00001-1234.png")
    result.tool, result.syntax, result.unmapped, result.warnings

Structure (Pillow-plugin style): `containers/` reads the text fields of PNG, JPEG and
WebP files (and the hidden LSB variants); each module of `tools/` registers a detector and a
parser by name with `register()`.  Detectors are tried from the highest priority down:
the more specific formats (SwarmUI's JSON, NovelAI's Comment, a ComfyUI graph) before the
generic A1111 text that several tools also write.

`ImportResult.tool` is one of: a1111, forge, sdnext, civitai (A1111 infotext writers),
comfyui, stability-matrix, tensorart, swarmui, invokeai, dream (lstein dream.py and
InvokeAI 2.x command lines), novelai, fooocus, ruinedfooocus, drawthings, paddlenlp,
diffusers (diffusers-style JSON, e.g. Hugging Face Spaces), and aigif: the AIGIF file
itself that `aigif unpack` and `aigif export --embed` write beside the tool text (spec
§8.1), tried first because it is the exact syntax.

Nothing is dropped silently: values AIGIF cannot represent go verbatim into the
`unmapped` extension and are listed in `ImportResult.unmapped`; values that cannot affect
the pixels (timestamps, UI state, restated copies) are named in `ImportResult.warnings`.
"""

from __future__ import annotations

import os
import stat
import struct

from aigif import limits
from aigif.fidelity import fidelity_of
from aigif.errors import AigifError, FileAccessError, FormatError, LimitExceeded, NoGenerationMetadata

from . import tools  # noqa: F401 - registers every tool's parser
from .containers import FileBytes, read_container, stealth
from .draft import ImportResult
from .registered import Parser, by_priority, register

__all__ = ["ImportResult", "import_image", "register", "parsers"]


UNKNOWN_MODEL = "unknown"


def parsers() -> list[Parser]:
    """The tool parsers in the order they are tried (highest priority first)."""
    return by_priority()


# Exceptions a parser may raise on malformed tool metadata; turned into a report, never
# a traceback.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)


def import_image(src: str | os.PathLike | bytes, *, provenance: bool = True, fidelity: bool = True,
                 keep_original: bool = False) -> ImportResult:
    """Read an image's embedded generation metadata into the AIGIF JSON form.

    provenance=False leaves out the `source` extension (the writing tool and its version):
    it does not affect the pixels and costs 15-35 bytes, a quarter of a typical file.

    fidelity=True records the FIDELITY hash of the original's pixels (spec §7.3, 11 bytes)
    for lossless (PNG) originals, so that `aigif verify` can say whether a regeneration is
    the image: it is tool-independent, so it is done here for every tool's images.

    keep_original=True puts the file's bytes in ImportResult.original (import --keep-pixels),
    from the same single read; such a file must fit in a .aigif (limits.MAX_FILE_BYTES).

    A file is opened once, by its name, and everything is read from that one open file:
    the container's chunks, the hidden LSBs and the pixels for the fidelity hash.

    Raises NoGenerationMetadata when the image carries none (exit status 8), FormatError
    when it is not a PNG/JPEG/WebP file, LimitExceeded on decompression bombs.
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        return _import(data, _read_container(data), None, len(data), data if keep_original else None, provenance, fidelity)
    path = str(src)
    f, size = _open_image_file(path, limits.MAX_FILE_BYTES if keep_original else limits.MAX_IMAGE_FILE_BYTES)
    with f:
        if keep_original:
            data = _file_read(path, lambda: _read_whole(f, path, size))
            return _import(data, _read_container(data), path, len(data), data, provenance, fidelity)
        c = _file_read(path, lambda: _read_container(FileBytes(f, size)))
        return _import(f, c, path, size, None, provenance, fidelity)


def _import(src, c, path: str | None, size: int, original: bytes | None, provenance: bool, fidelity: bool) -> ImportResult:
    """src: the image's bytes or its open file; c: its container, read from it."""
    warnings = list(c.warnings)
    result = _dispatch(c, warnings)
    if result is None and c.format in ("PNG", "WEBP"):
        # Pillow streams the pixel data from the bytes or the open file
        hidden = stealth.read(_rewound(src), warnings)
        if hidden:
            c.fields.extend(hidden)
            warnings.append(f"metadata read from hidden LSBs ({hidden[0].where})")
            result = _dispatch(c, warnings)
    if result is None:
        if c.c2pa:
            raise NoGenerationMetadata(
                f"{path or 'image'}: only a C2PA provenance manifest, no generation parameters", path=path
            )
        keys = sorted(c.keys())
        detail = f" (text fields: {', '.join(keys)})" if keys else ""
        raise NoGenerationMetadata(f"{path or 'image'}: no generation metadata{detail}", path=path)
    parser, draft = result
    if "model" not in draft.syntax:
        # an absent model means the registry's default model in AIGIF, which would be a lie
        draft.syntax["model"] = UNKNOWN_MODEL
        draft.warnings.append("the tool recorded no model: kept as the inline name 'unknown'")
    if not provenance and draft.ext.pop("source", None) is not None:
        draft.warnings.append("ignored (provenance off): source tool and version")
    syntax = draft.finish()
    _fill_size_from_pixels(syntax, c, draft)
    if fidelity:
        digest = _original_fidelity(src, size, c, syntax, draft.warnings)
        if digest is not None:
            syntax["fidelity"] = digest
    return ImportResult(
        tool=draft.tool,
        syntax=syntax,
        unmapped=list(draft.items),
        metadata_bytes=c.metadata_bytes,
        warnings=list(dict.fromkeys(warnings + draft.warnings)),
        source=path,
        image_bytes=size,
        original=original,
    )


def _rewound(src):
    """The bytes, or the open file at its start (the container walk moved it)."""
    if not isinstance(src, bytes):
        src.seek(0)
    return src


def _original_fidelity(src, file_bytes: int, c, syntax: dict, warnings: list[str]) -> dict | None:
    """The JSON-form FIDELITY of the original image's pixels (spec §7.3), or None.

    Only lossless PNGs: a regeneration can equal a PNG's pixels, never a JPEG's or a lossy
    WebP's, so their hash would only ever say "differs".  Images over the regeneration
    limit are skipped before decoding (no regeneration can match them either)."""
    if c.format != "PNG" or not c.width or not c.height:
        return None
    size = (syntax.get("width", c.width), syntax.get("height", c.height))
    if size != (c.width, c.height) and "hires" not in syntax.get("extensions", {}):
        return None  # cropped or resized after generation: no regeneration is this image
    if c.width * c.height > limits.MAX_GENERATE_PIXELS:
        warnings.append(f"no fidelity hash: {c.width}x{c.height} is over the regeneration limit")
        return None
    if file_bytes > 8 * c.width * c.height + (16 << 20):
        # more bytes than any PNG of these pixels needs (8 bytes a pixel is 16-bit RGBA
        # stored raw): the rest is not pixels, and Pillow would read through all of it
        warnings.append("no fidelity hash: the file is far larger than its pixels")
        return None
    return _fidelity_of_file(_rewound(src), (c.width, c.height), warnings)


def _fidelity_of_file(src, size: tuple[int, int], warnings: list[str]) -> dict | None:
    """Decode the original and hash its pixels.  A corrupt original (a broken chunk after
    the pixel data, a truncated stream) means no fidelity hash, said in the warnings: the
    generation syntax was read from the container already and stays the result."""
    import io
    import zlib

    from PIL import Image

    # everything Pillow raises on corrupt data, caught here once: its PNG reader raises
    # SyntaxError for a broken chunk, zlib.error/struct.error/EOFError from its decoders,
    # DecompressionBombError (not an OSError) past its own pixel limit
    pillow_errors = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error,
                     Image.DecompressionBombError)
    try:
        with Image.open(io.BytesIO(src) if isinstance(src, bytes) else src) as im:
            if (im.width, im.height) != size:
                return None
            im.load()
            return fidelity_of(im).to_dict()
    except pillow_errors as e:
        warnings.append(f"no fidelity hash: the original's pixels do not decode ({type(e).__name__}: {str(e)[:80]})")
        return None


def _read_container(data):
    try:
        return read_container(data)
    except (ValueError, IndexError, struct.error) as e:
        raise FormatError(f"corrupt image: {e}", where="import") from None


def _open_image_file(path: str, limit: int):
    """(the open file, its size): a regular file of at most `limit` bytes, opened once.
    Through a FileBytes view only the chunks that are kept are read, never the whole file."""
    def opened():
        # stat before open: opening a FIFO would wait for a writer
        if not stat.S_ISREG(os.stat(path).st_mode):  # /dev/zero must not be read until memory runs out
            raise FileAccessError(f"cannot read image {path}: not a regular file")
        f = open(path, "rb")
        try:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise LimitExceeded(f"image {path}: {size} bytes is over the {limit}-byte limit")
        except BaseException:
            f.close()
            raise
        return f, size

    return _file_read(path, opened)


def _file_read(path: str, read):
    """read(), an OSError from it (a directory, the disk, a file cut under the reader)
    being the file's: FileAccessError."""
    try:
        return read()
    except IsADirectoryError:
        raise FileAccessError(f"cannot read image {path}: is a directory") from None
    except OSError as e:
        raise FileAccessError(f"cannot read image {path}: {e.strerror or e}") from None


def _read_whole(f, path: str, size: int) -> bytes:
    data = f.read(size + 1)  # read(n) allocates n bytes up front: ask for the size the file says it has
    if len(data) > size:
        raise LimitExceeded(f"image {path}: grew while it was read")
    return data


def _dispatch(c, warnings: list[str]):
    for p in parsers():
        try:
            if not p.detect(c):
                continue
            draft = p.parse(c)
        except AigifError:
            raise
        except _PARSE_ERRORS as e:
            warnings.append(f"{p.name}: metadata present but malformed ({type(e).__name__}: {e})")
            continue
        if draft is not None and _records_a_generation(draft):
            return p, draft
    return None


def _records_a_generation(draft) -> bool:
    """Whether a parser's draft is the tool's record of a generation, not a false detection
    (then the next parser is tried).  Narrower than syntax.has_generation_content on
    purpose: every draft carries a `source` extension, and a size, a negative prompt or a
    CFG scale alone do not say that an image was generated from them."""
    s = draft.syntax
    return any(k in s for k in ("prompt", "seed", "steps", "model"))


def _fill_size_from_pixels(syntax: dict, c, draft) -> None:
    """Tools that do not record the size (NovelAI legacy) generated at the image's size;
    cropped or resized files would lie, so only plausible latent sizes are taken."""
    if "width" in syntax or "height" in syntax or not c.width or not c.height:
        return
    if c.width % 8 == 0 and c.height % 8 == 0 and min(c.width, c.height) >= 64 and "hires" not in syntax.get("extensions", {}):
        syntax["width"], syntax["height"] = c.width, c.height
        draft.warnings.append(f"size not recorded by the tool: taken from the image ({c.width}x{c.height})")
