"""Reading and writing whole files: bounded reads, atomic writes.

Every module of AIGIF that reads or writes a file goes through these two functions, so
the rules (a size limit checked before reading, no devices or FIFOs, never a partial
file, errors naming the path) hold everywhere.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from . import limits
from .errors import FileAccessError, LimitExceeded


def read_bytes(path, limit: int | None = None, what: str = "") -> bytes:
    """A whole regular file, refused before reading when it is over `limit` bytes
    (default `limits.MAX_FILE_BYTES`).

    Devices and FIFOs are refused: /dev/zero must not be read until memory runs out.
    """
    path = Path(path)
    limit = limits.MAX_FILE_BYTES if limit is None else limit
    label = f"{what} {path}".strip()
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise FileAccessError(f"cannot read {label}: not a regular file")
        if st.st_size > limit:
            raise LimitExceeded(f"{label}: {st.st_size} bytes is over the {limit}-byte limit")
        with open(path, "rb") as f:
            # read(n) allocates n bytes up front: ask for the size the file says it has
            data = f.read(st.st_size + 1)
    except OSError as e:
        raise FileAccessError(f"cannot read {label}: {e.strerror or e}") from None
    if len(data) > limit:
        raise LimitExceeded(f"{label}: over the {limit}-byte limit")
    return data


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


TEMP_SUFFIX = ".tmp"


def temp_prefix(path) -> str:
    """The name every temporary file of `write_atomic(path)` starts with (hidden, beside it)."""
    return f".{Path(path).name}."


def remove_temp_files(path) -> int:
    """Remove what `write_atomic(path)` leaves when its process is killed mid-write (a
    batch worker terminated with its pool): -> how many were removed."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    prefix, removed = temp_prefix(path), 0
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(TEMP_SUFFIX)]
    except OSError:
        return 0
    for name in names:
        try:
            os.unlink(directory / name)
            removed += 1
        except OSError:
            pass
    return removed


def write_atomic(path, data: bytes) -> None:
    """Write via a temporary file in the same directory, then rename: never a partial file.

    OSErrors become `FileAccessError` naming the target; the temporary file never survives.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise FileAccessError(f"cannot write {path}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=directory)
    except OSError as e:
        raise FileAccessError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from other users
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise FileAccessError(f"cannot write {path}: {e.strerror or e}") from None
        raise
