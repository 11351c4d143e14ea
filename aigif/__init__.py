"""AIGIF: store the generation syntax of an AI-generated image instead of its pixels.

The core (this package minus `aigif.diffusion`) never imports torch: reading and writing
files needs only msgpack and zstandard.
"""

from __future__ import annotations

from .defaults import resolve
from . import format as _format
from .format import decode, inspect, read
from .jsonform import syntax_from_dict as from_dict
from .jsonform import syntax_to_dict as to_dict
from .errors import AigifError
from .registry import PRIVATE_IDS as _PRIVATE_IDS
from .syntax import Fidelity, Payload, Platform, ResolvedSyntax, Syntax
from .version import FORMAT_VERSION, __version__

__all__ = [
    "AigifError",
    "Fidelity",
    "Payload",
    "Platform",
    "ResolvedSyntax",
    "Syntax",
    "decode",
    "encode",
    "from_dict",
    "generate",
    "inspect",
    "read",
    "resolve",
    "to_dict",
    "pack",
    "unpack",
    "write",
]


def _portable(syntax: Syntax) -> Syntax:
    """A private registry model (an ID from 1048576, meaningful only in this registry) as
    spec §6.4 says a writer stores it: by name and weights fingerprint, with the defaults
    its entry gave written out, so the file means the same model to every reader."""
    if isinstance(syntax.model, int) and syntax.model in _PRIVATE_IDS:
        from .regenerate import portable_syntax  # lazy: the registry is read only for a private ID

        return portable_syntax(syntax)
    return syntax


def encode(syntax: Syntax) -> bytes:
    """The complete .aigif file for a syntax, a private model stored portably (_portable).
    aigif.format.encode writes the syntax exactly as given (a private ID too: what files
    of revisions 1-2 held)."""
    return _format.encode(_portable(syntax))


def write(syntax: Syntax, path) -> bytes:
    """encode(syntax), written atomically to `path`; returns the bytes."""
    return _format.write(_portable(syntax), path)


def generate(syntax: Syntax | dict, **options):
    """Regenerate the image of a syntax through diffusers (needs aigif[generate]) -> PIL.Image."""
    # lazy: regeneration pulls in aigif.diffusion; `import aigif` stays light
    from .regenerate import generate_image

    return generate_image(syntax, **options)[0]


def pack(syntax: Syntax | dict, path=None, **options) -> bytes:
    """Run the model for a syntax and return its .aigif file (written atomically to `path`
    if given): the platform that ran it and the fidelity hash recorded; with
    original=PIL.Image, a residual that reproduces that image (needs aigif[generate])."""
    # lazy: regeneration pulls in aigif.diffusion; `import aigif` stays light
    from .regenerate import pack as pack_file

    return pack_file(syntax, path, **options)


def unpack(path_or_bytes, **options):
    """Decode a .aigif file (path or bytes) to its image: regenerated, or decoded from its payload."""
    # lazy: regeneration pulls in aigif.diffusion; `import aigif` stays light
    from .regenerate import unpack_image

    return unpack_image(path_or_bytes, **options).image
