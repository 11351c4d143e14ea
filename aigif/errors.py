"""The exception hierarchy of spec §9.

Every error a decoder may raise has a stable code string (written in the spec and in
the conformance vectors) and a CLI exit status.  One base class, `AigifError`, lets
callers catch everything AIGIF raises for bad input; nothing else should escape.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """CLI exit statuses (spec §9.2)."""

    OK = 0
    FAILURE = 1  # unexpected; a bug if it ever shows up
    USAGE = 2  # bad command line or invalid syntax JSON
    MALFORMED = 3  # not an AIGIF file, truncated, corrupt
    UNSUPPORTED = 4  # newer version, unknown critical segment/extension/codec
    LIMIT = 5  # decompression-bomb guard tripped
    MODEL = 6  # model unknown or its weights not available
    CODEC = 7  # pixel/residual payload cannot be decoded
    NO_METADATA = 8  # import: the image carries no generation metadata; verify: the file no FIDELITY
    MISSING_EXTRA = 9  # an optional dependency is not installed
    REGISTRY = 10  # registry conflict or invalid registry entry
    DIFFERS = 11  # verify: regeneration does not match the fidelity hash
    IO = 12  # a file cannot be read or written (missing, a directory, no space, ...)
    INTERRUPTED = 130


class AigifError(Exception):
    code = "E_AIGIF"
    exit_status = ExitStatus.FAILURE

    def __init__(self, message: str = "", **details):
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.args[0]}"


# -- malformed input (exit 3) -------------------------------------------------------
class FormatError(AigifError):
    """The data is not a well-formed AIGIF file."""

    code = "E_FORMAT"
    exit_status = ExitStatus.MALFORMED


class NotAigif(FormatError):
    """The signature is not AIGIF's."""

    code = "E_SIGNATURE"


class Truncated(FormatError):
    """The file ends before its structure does."""

    code = "E_TRUNCATED"


class IntegrityError(FormatError):
    """The CRC does not match the bytes it covers."""

    code = "E_CRC"


class MalformedSegment(FormatError):
    """Segment framing or ordering is broken (length, order, duplicates, reserved bits)."""

    code = "E_SEGMENT"


class MalformedField(FormatError):
    """A field inside a segment is malformed or out of its range."""

    code = "E_FIELD"


class InvalidText(FormatError):
    """A text field is not valid UTF-8, or its coded payload is corrupt."""

    code = "E_TEXT"


class TrailingData(FormatError):
    """Bytes follow the CRC."""

    code = "E_TRAILING"


# -- valid but beyond this decoder (exit 4) ----------------------------------------
class UnsupportedError(AigifError):
    code = "E_UNSUPPORTED"
    exit_status = ExitStatus.UNSUPPORTED


class UnsupportedVersion(UnsupportedError):
    """The file's major version is newer than this decoder."""

    code = "E_VERSION"


class UnknownCritical(UnsupportedError):
    """A critical segment or extension this decoder does not know."""

    code = "E_CRITICAL"


class UnknownTextCodec(UnsupportedError):
    """A text-codec ID this decoder does not know."""

    code = "E_TEXT_CODEC"


class UnsupportedFeature(UnsupportedError):
    """The generator cannot honour a critical extension of this syntax."""

    code = "E_FEATURE"


# -- limits (exit 5) ---------------------------------------------------------------
class LimitExceeded(AigifError):
    """A size, count or length is over a decoder limit (decompression-bomb guard)."""

    code = "E_LIMIT"
    exit_status = ExitStatus.LIMIT


# -- models (exit 6) ---------------------------------------------------------------
class ModelError(AigifError):
    code = "E_MODEL"
    exit_status = ExitStatus.MODEL


class UnknownModel(ModelError):
    """The model is not in the registry."""

    code = "E_MODEL_UNKNOWN"


class ModelUnavailable(ModelError):
    """The model is known but its weights are not available locally."""

    code = "E_MODEL_UNAVAILABLE"


class ModelMismatch(ModelError):
    """The file's model fingerprint does not match the registry entry of that name or ID
    (spec §6.4): regenerating with those weights would give another model's image."""

    code = "E_MODEL_MISMATCH"


# -- pixel codecs (exit 7) ---------------------------------------------------------
class CodecError(AigifError):
    """A pixel or residual payload cannot be decoded."""

    code = "E_CODEC"
    exit_status = ExitStatus.CODEC


class UnknownCodec(CodecError):
    """A codec ID this decoder does not know."""

    code = "E_CODEC_UNKNOWN"


# -- everything else ----------------------------------------------------------------
class InvalidSyntax(AigifError):
    """A syntax given by the user (JSON form, CLI options) is invalid."""

    code = "E_SYNTAX"
    exit_status = ExitStatus.USAGE


class NoGenerationMetadata(AigifError):
    """An image carries no generation metadata that AIGIF can import."""

    code = "E_NO_METADATA"
    exit_status = ExitStatus.NO_METADATA


class NothingToVerify(AigifError):
    """`aigif verify`: the file has no FIDELITY segment, so there is nothing to check the
    regeneration against (not a failed check: no model is run)."""

    code = "E_NO_FIDELITY"
    exit_status = ExitStatus.NO_METADATA


class MissingExtra(AigifError):
    """An optional dependency group is not installed."""

    code = "E_EXTRA"
    exit_status = ExitStatus.MISSING_EXTRA


class RegistryError(AigifError):
    """A registry entry is invalid or conflicts with another."""

    code = "E_REGISTRY"
    exit_status = ExitStatus.REGISTRY


class VerificationFailed(AigifError):
    """The regenerated pixels do not match the file's fidelity hash."""

    code = "E_DIFFERS"
    exit_status = ExitStatus.DIFFERS


class FileAccessError(AigifError):
    """A file cannot be read or written (missing, a directory, permissions, disk full)."""

    code = "E_IO"
    exit_status = ExitStatus.IO
