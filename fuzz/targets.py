"""What the worker runs on one input.  Each target returns a small JSON-able summary;
a target that finds a broken promise (a re-encode that loses a field) returns it under
"violation".  Any exception that is not an AigifError propagates to the worker, which
reports it as a finding.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile

import aigif
from aigif.defaults import elide_defaults
from aigif.errors import AigifError

_TMP = None


def _scratch() -> str:
    """One scratch file per worker, for the targets that must go through a path."""
    global _TMP
    if _TMP is None:
        fd, _TMP = tempfile.mkstemp(prefix="aigif-fuzz-", suffix=".bin")
        os.close(fd)
    return _TMP


def _info(path: str) -> None:
    """`aigif info` both ways (text and --json --resolved), as a user would run it."""
    from aigif.cli import cmd_info

    cmd_info.run(argparse.Namespace(file=path, json=False, resolved=False))
    try:
        cmd_info.run(argparse.Namespace(file=path, json=True, resolved=True))
    except AigifError:
        pass  # an unknown model cannot be resolved: that is a clean refusal


def _decoded(syntax) -> dict:
    out = {"keys": sorted(aigif.to_dict(syntax))}
    again = aigif.decode(aigif.encode(syntax))
    # a file may spell out a default (the default model by name); encode elides it
    if aigif.to_dict(elide_defaults(again)) != aigif.to_dict(elide_defaults(syntax)):
        out["violation"] = "decode(encode(decode(file))) differs from decode(file)"
    return out


def decode(data: bytes) -> dict:
    """aigif.decode + inspect + re-encode round trip + `aigif info` through a path."""
    syntax = aigif.decode(data)
    aigif.inspect(data)
    with contextlib.suppress(AigifError):
        aigif.to_dict(syntax, resolved=True)
    out = _decoded(syntax)
    path = _scratch()
    with open(path, "wb") as f:
        f.write(data)
    aigif.read(path)
    _info(path)
    return out


def read(path: str) -> dict:
    """A big file by path: aigif.read + `aigif info` (the file itself is never in the parent's pipe)."""
    syntax = aigif.read(path)
    _info(path)
    return {"keys": sorted(aigif.to_dict(syntax))}


def _import(src) -> dict:
    from aigif.importers import import_image
    from aigif.importers.batch import build_syntax

    r = import_image(src)
    data = aigif.encode(build_syntax(r))
    back = aigif.to_dict(aigif.decode(data))
    return {"tool": r.tool, "keys": sorted(r.syntax), "syntax": _jsonable(r.syntax), "decoded_keys": sorted(back),
            "warnings": r.warnings[:20]}


def import_bytes(data: bytes) -> dict:
    """aigif.importers.import_image on the bytes of an image, then encode as `aigif import` does."""
    return _import(data)


def import_path(path: str) -> dict:
    return _import(path)


def encode_json(data: bytes) -> dict:
    """The JSON form -> Syntax -> encode -> decode: every field given must come back, or encode refuses."""
    obj = json.loads(data)
    s = aigif.from_dict(obj)
    back = aigif.to_dict(aigif.decode(aigif.encode(s)))
    lost = [k for k, v in obj.items() if k != "payloads" and v not in (None, "", {}, []) and k not in back]
    out = {"keys": sorted(back)}
    if lost:
        out["violation"] = f"encode dropped the given field(s) {lost} silently"
    return out


def cli(data: bytes) -> dict:
    """`aigif ARGS...` in a working folder: {"cwd": ..., "argv": [...]} -> exit status and stderr."""
    from aigif.cli.main import main

    spec = json.loads(data)
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(spec["cwd"])
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(spec["argv"])
    finally:
        os.chdir(old)
    return {"rc": rc, "stderr": err.getvalue()[-4000:]}


def info_plugins(data: bytes) -> dict:
    """`aigif info` on a file, with importlib.metadata.entry_points answering one fake
    registry plugin: reports whether reading the file loaded (ran) it."""
    import importlib.metadata as md

    from aigif import registry

    loaded = []

    class FakePlugin:
        name = "fuzz-fake-plugin"
        group = getattr(registry, "ENTRY_POINT_GROUP", "aigif.registry")
        value = "fuzz_fake:plugin"

        def load(self):
            loaded.append(self.name)
            return lambda *a, **k: None

    real = md.entry_points

    def fake(**kw):
        if kw.get("group") == FakePlugin.group:
            return [FakePlugin()]
        return real(**kw)

    path = _scratch()
    with open(path, "wb") as f:
        f.write(data)
    registry.reset_registry()
    md.entry_points = fake
    try:
        _info(path)
    finally:
        md.entry_points = real
        registry.reset_registry()
    return {"plugins_loaded": loaded}


def selftest(data: bytes) -> dict:
    """Plant each kind of finding, so that a test can see the worker's limits work."""
    if data == b"cpu":
        while True:
            pass
    if data == b"mem":
        return {"n": len(bytearray(2 << 30))}
    if data == b"exc":
        raise ValueError("planted")
    if data == b"signal":
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
    if data == b"lose":
        return {"violation": "planted"}
    raise AigifError("planted clean error")


def _jsonable(obj):
    try:
        json.dumps(obj, allow_nan=True)
        return obj
    except (TypeError, ValueError, RecursionError):
        return repr(obj)[:2000]


TARGETS = {
    "decode": decode,
    "read": read,
    "import": import_bytes,
    "import_path": import_path,
    "encode_json": encode_json,
    "cli": cli,
    "info_plugins": info_plugins,
    "selftest": selftest,
}
PATH_TARGETS = ("read", "import_path")
