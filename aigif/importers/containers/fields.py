"""What a container reader returns: the text `Field`s of one image, in a `Container`, and
`FileBytes`, the on-demand view of a file the readers walk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..jsonutil import load_json


@dataclass
class Field:
    where: str  # container location, e.g. "png:tEXt", "exif:UserComment", "stealth:alpha"
    key: str
    value: str
    size: int  # bytes the field occupies in the file (the stored, maybe compressed, form)


@dataclass
class Container:
    format: str  # "PNG", "JPEG", "WEBP"
    fields: list[Field] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    c2pa: bool = False  # a C2PA manifest is present (provenance only, never generation syntax)
    width: int | None = None
    height: int | None = None
    # Per-image cache of what the detectors derive from a field's text (its JSON above
    # all): a dozen detectors look at the same fields, and a 1 MB chunk must be parsed
    # once, not once per detector.  Keyed by the text object itself (kept alive here).
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def memo(self, kind: str, text: Any, compute: Callable[[Any], Any]) -> Any:
        """compute(text), computed once per image for each (kind, text object)."""
        if text is None:
            return compute(text)
        key = (kind, id(text))
        hit = self._memo.get(key)
        if hit is not None and hit[0] is text:
            return hit[1]
        value = compute(text)
        self._memo[key] = (text, value)
        return value

    def json(self, text: str | None):
        """The field text's JSON value (None if it is not JSON), parsed once per image.
        Parsers share the object: they copy before they modify it."""
        return self.memo("json", text, load_json)

    def get(self, key: str) -> str | None:
        for f in self.fields:
            if f.key == key:
                return f.value
        return None

    def get_ci(self, key: str) -> str | None:
        k = key.lower()
        for f in self.fields:
            if f.key.lower() == k:
                return f.value
        return None

    def keys(self) -> set[str]:
        return {f.key for f in self.fields}

    @property
    def metadata_bytes(self) -> int:
        return sum(f.size for f in self.fields)


class FileBytes:
    """A read-only, bytes-like view of an open file: `len`, `[i]` and `[a:b]` read on demand
    through a 64 KiB window.  The container readers walk chunk headers and read only the
    bodies they keep, so a 900 MiB PNG costs its text chunks, not 900 MiB.  A file that
    shrinks under the reader gives short slices, which the readers treat as truncation."""

    WINDOW = 1 << 16

    def __init__(self, f, size: int):
        self._f, self._size = f, size
        self._start, self._win = 0, b""

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, k):
        if isinstance(k, slice):
            start, stop, step = k.indices(self._size)
            if step != 1:
                raise ValueError("FileBytes slices have step 1")
            if stop <= start:
                return b""
            if self._start <= start and stop <= self._start + len(self._win):
                return self._win[start - self._start : stop - self._start]
            self._f.seek(start)
            if stop - start > self.WINDOW:
                return self._f.read(stop - start)
            self._start, self._win = start, self._f.read(self.WINDOW)
            return self._win[: stop - start]
        i = k + self._size if k < 0 else k
        if not 0 <= i < self._size:
            raise IndexError("FileBytes index out of range")
        b = self[i : i + 1]
        if not b:
            raise IndexError("file shrank while it was read")
        return b[0]
