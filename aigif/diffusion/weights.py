"""Hash the local weight files of a registry model and compare with its fingerprints
(`aigif registry verify NAME`).  No network unless downloads are allowed; hashing needs
no torch, only huggingface_hub for hub entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .._extras import require
from ..errors import ModelUnavailable
from .pipelines import describe, downloads_allowed, how_to_get

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _file_fingerprints(entry) -> list[dict]:
    """Fingerprints that name a file of the pipeline and hold its sha256 (full or prefix)."""
    return [fp for fp in entry.fingerprints if fp.get("kind") == "sha256" and fp.get("file")]


def hash_local_weights(entry, allow_download: bool = False) -> dict[str, str]:
    """{file relative to the pipeline root: sha256} of the files available locally.

    Embedded/local entries: every file of the folder (SHA256SUMS excepted).  Hub entries:
    the files the entry fingerprints, looked up in the Hugging Face cache for
    repo@revision without network (downloaded first only if allowed).  Files that are
    not available are simply absent from the result; check_fingerprints reports them.
    """
    source = entry.pipeline.get("source")
    if source != "hub":
        root = entry.source_dir
        if root is None or not Path(root).is_dir():
            raise ModelUnavailable(f"model {describe(entry)}: folder not found; {how_to_get(entry)}", model=entry.name)
        root = Path(root)
        return {
            p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "SHA256SUMS"
        }
    return _hash_hub_files(entry, [fp["file"] for fp in _file_fingerprints(entry)], downloads_allowed(allow_download))


def _hash_hub_files(entry, files: list[str], allow_download: bool) -> dict[str, str]:
    require("generate", "huggingface_hub")
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    repo = entry.pipeline.get("repo", "")
    revision = entry.pipeline.get("revision") or None
    out: dict[str, str] = {}
    for name in dict.fromkeys(files):
        path = try_to_load_from_cache(repo, name, revision=revision)
        if not isinstance(path, str) and allow_download:
            try:
                path = hf_hub_download(repo, name, revision=revision)
            except Exception as e:  # network, auth, missing file: all mean "not available"
                raise ModelUnavailable(f"cannot download {name} of {describe(entry)}: {type(e).__name__}: {e}", model=entry.name) from None
        if isinstance(path, str):  # else None or the _CACHED_NO_EXIST sentinel
            out[name] = sha256_file(Path(path))
    return out


@dataclass(frozen=True)
class FingerprintCheck:
    file: str
    expected: str
    actual: str | None  # None: the file is not available locally

    @property
    def ok(self) -> bool:
        # Registry values may be prefixes (A1111's 10-hex "Model hash" of a file).
        return self.actual is not None and self.actual.startswith(self.expected.lower())

    @property
    def status(self) -> str:
        return "ok" if self.ok else ("missing" if self.actual is None else "MISMATCH")


def check_fingerprints(entry, hashes: dict[str, str]) -> list[FingerprintCheck]:
    """One FingerprintCheck per file fingerprint of `entry`, in registry order.
    Fingerprints without a file (whole-checkpoint hashes of other tools) are not checkable
    against a diffusers folder and are left out."""
    return [FingerprintCheck(fp["file"], fp["value"], hashes.get(fp["file"])) for fp in _file_fingerprints(entry)]
