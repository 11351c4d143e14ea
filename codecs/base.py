"""Codec table and the NAME[:RATE] spec grammar shared by every fallback codec.

Codec IDs are normative (spec/codecs.md) and never renumbered: a file written today
must decode with any later version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aigif.errors import InvalidSyntax, UnknownCodec

PNG, WEBP, AVIF, JXL, JPEG, VERBATIM, NVTC = 1, 2, 3, 4, 5, 6, 16
GROUP_MASK, OMNI_ICM = 17, 18
RESERVED: dict[int, str] = {}  # IDs assigned to a codec not implemented yet (none today)


@dataclass(frozen=True)
class CodecInfo:
    id: int
    name: str
    lossless: bool  # True when every rate point (or the only one) is lossless
    rate_points: list[str] = field(default_factory=list)  # literal values or "a..b" integer ranges
    description: str = ""
    available: bool = True
    reason: str = ""  # why not available
    default_rate: str | None = None

    def accepts(self, rate: str) -> bool:
        """A rate point is "/"-separated parts, each a literal or an inclusive a..b range."""
        parts = rate.split("/")
        for rp in self.rate_points:
            forms = rp.split("/")
            if len(forms) == len(parts) and all(_part_accepts(f, p) for f, p in zip(forms, parts)):
                return True
        return False

    def spec_forms(self) -> list[str]:
        """Every NAME[:RATE] form the encoder accepts, ranges left as ranges."""
        forms = [self.name] if self.default_rate is not None or not self.rate_points else []
        return forms + [f"{self.name}:{rp}" for rp in self.rate_points]


def _part_accepts(form: str, part: str) -> bool:
    if ".." in form:
        lo, hi = (int(v) for v in form.split(".."))
        return part.isascii() and part.isdigit() and lo <= int(part) <= hi
    return part == form


def parse_spec(spec: str, table: dict[str, CodecInfo]) -> tuple[CodecInfo, str | None]:
    """'webp:80' -> (info, '80'); 'png' -> (info, None). Raises UnknownCodec / InvalidSyntax."""
    if not isinstance(spec, str) or not spec:
        raise InvalidSyntax(f"codec spec must be a non-empty string like 'webp:80', got {spec!r}")
    name, _, rate = spec.strip().lower().partition(":")
    info = table.get(name)
    if info is None:
        raise UnknownCodec(f"unknown codec {name!r}; known: {', '.join(sorted(table))}")
    if not rate:
        if info.rate_points and info.default_rate is None:
            raise InvalidSyntax(f"codec {name!r} needs a rate point: one of {info.rate_points}")
        return info, info.default_rate
    if not info.accepts(rate):
        if not info.rate_points:
            raise InvalidSyntax(f"codec {name!r} takes no rate point, got {rate!r}")
        raise InvalidSyntax(f"rate point {rate!r} not accepted by {name!r}: one of {info.rate_points}")
    return info, rate
