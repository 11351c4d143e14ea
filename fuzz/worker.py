"""Run inputs in a separate process under per-input CPU-time and memory limits.

The parent (`Worker`) sends one request at a time over a pipe; the child (`serve`) sets
RLIMIT_AS to its own size after start-up plus the memory limit, and before each input
sets RLIMIT_CPU a little past the CPU limit, so a runaway input is killed by SIGXCPU
rather than hanging the campaign.  A wall-clock timer in the parent covers an input that
blocks without using CPU.  After a crash or a kill the parent starts a fresh child.

Per-input peak RSS comes from /proc/self/status VmHWM, reset before each input through
/proc/self/clear_refs (Linux); where that is not possible ru_maxrss is used and the
worker restarts whenever it has grown, so that one big input cannot mask the next.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20


@dataclass
class Limits:
    cpu_s: float = 2.0  # an input that uses more CPU is a finding ("slow", or "cpu" when killed)
    mem_mb: int = 400  # peak memory above the worker's idle size; past it allocations fail
    wall_s: float = 30.0  # blocking without CPU use


@dataclass
class Result:
    status: str  # ok | aigif | exception | crash | timeout
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    type: str = ""
    code: str = ""
    message: str = ""
    where: str = ""  # the innermost frame inside the project: file:line function
    tb: str = ""
    info: dict = field(default_factory=dict)
    signal: int = 0

    def finding(self, limits: Limits) -> str | None:
        """The finding class, or None for a clean result (a value or an AigifError)."""
        if self.status == "crash":
            if self.signal == signal.SIGXCPU:
                return "cpu-limit"
            return f"crash:{signal.Signals(self.signal).name}" if self.signal > 0 else "crash"
        if self.status == "timeout":
            return "wall-timeout"
        if self.status == "exception":
            return "memory-limit" if self.type == "MemoryError" else f"exception:{self.type}"
        if self.cpu_s > limits.cpu_s:
            return "slow"
        if self.rss_mb > limits.mem_mb:
            return "memory"
        if self.info.get("violation"):
            return "violation"
        return None


# -- child ---------------------------------------------------------------------------------
def _status_kb(name: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _where(tb) -> str:
    frames = traceback.extract_tb(tb)
    inside = [f for f in frames if f"{os.sep}aigif{os.sep}" in f.filename] or frames
    if not inside:
        return ""
    f = inside[-1]
    return f"{os.path.relpath(f.filename, REPO)}:{f.lineno} {f.name}"


def _warm_up(targets) -> None:
    """Load what the first real input would load (the prompt model, codec tables, Pillow
    plugins), so that it counts in the idle size and not against one input's limits."""
    from . import seeds

    for data in seeds.aigif_seeds():
        try:
            targets.decode(data)
        except Exception:  # noqa: BLE001 - warming up only; findings are made later, under the limits
            pass
    for _, data in seeds.fixture_images():
        try:
            targets.import_bytes(data)
        except Exception:  # noqa: BLE001
            pass


def serve(cpu_s: float, mem_mb: int) -> None:
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")

    from aigif.errors import AigifError
    from aigif.importers import parsers

    from . import targets

    parsers()  # import every tool module now, not inside the first input's limits
    import aigif.cli.main  # noqa: F401
    import PIL.Image  # noqa: F401

    _warm_up(targets)

    base_vm = _status_kb("VmSize") * 1024
    if base_vm:
        limit = base_vm + mem_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    can_reset = _reset_peak()
    proto_out.write(json.dumps({"ready": True, "can_reset_peak": can_reset}).encode() + b"\n")

    while True:
        head = proto_in.read(8)
        if len(head) < 8:
            return
        hlen, dlen = struct.unpack(">II", head)
        req = json.loads(proto_in.read(hlen))
        data = b""
        while len(data) < dlen:
            chunk = proto_in.read(dlen - len(data))
            if not chunk:
                return
            data += chunk
        fn = targets.TARGETS[req["target"]]
        arg = data.decode() if req["target"] in targets.PATH_TARGETS else data
        _reset_peak()
        rss_before = _status_kb("VmRSS")
        used = _cpu()
        soft = math.ceil(used + cpu_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        out = {"status": "ok"}
        try:
            out["info"] = fn(arg)
        except AigifError as e:
            out = {"status": "aigif", "type": type(e).__name__, "code": e.code, "message": str(e)[:500]}
        except BaseException as e:  # noqa: BLE001 - the finding itself
            if isinstance(e, KeyboardInterrupt):
                raise
            out = {"status": "exception", "type": type(e).__name__, "message": str(e)[:500],
                   "where": _where(e.__traceback__), "tb": "".join(traceback.format_exception(e))[-6000:]}
        out["cpu_s"] = _cpu() - used
        out["rss_mb"] = max(0, _status_kb("VmHWM") - rss_before) / 1024
        out["grown_mb"] = (_status_kb("VmSize") * 1024 - base_vm) / MB if base_vm else 0
        del data, arg
        try:
            line = json.dumps(out).encode()
        except (TypeError, ValueError):
            out.pop("info", None)
            line = json.dumps(out).encode()
        proto_out.write(line + b"\n")


# -- parent --------------------------------------------------------------------------------
class Worker:
    """A child process that runs one input at a time; restarted after every death."""

    def __init__(self, limits: Limits | None = None, env: dict | None = None):
        self.limits = limits or Limits()
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("AIGIF_DEBUG", None)
        env.update(self.env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fuzz.worker", str(self.limits.cpu_s), str(self.limits.mem_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(REPO), env=env)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fuzz worker failed to start (run `python -m fuzz.worker 2 400` to see why)")
        self.can_reset_peak = json.loads(line).get("can_reset_peak", False)

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.restarts += 1

    def run(self, target: str, data: bytes) -> Result:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        req = json.dumps({"target": target}).encode()
        try:
            self.proc.stdin.write(struct.pack(">II", len(req), len(data)) + req + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        line = self._readline(self.limits.wall_s + 2 * self.limits.cpu_s + 5)
        if line is None:
            self._kill()
            return Result("timeout", cpu_s=self.limits.wall_s)
        if not line:
            rc = self.proc.wait()
            self.proc = None
            self.restarts += 1
            return Result("crash", signal=-rc if rc < 0 else 0, cpu_s=self.limits.cpu_s + 1, message=f"exit {rc}")
        d = json.loads(line)
        grown = d.pop("grown_mb", 0)
        r = Result(**{k: v for k, v in d.items() if k in Result.__dataclass_fields__})
        if grown > self.limits.mem_mb / 2 or (not self.can_reset_peak and r.rss_mb > 50):
            self.close()  # keep the limit honest: memory the allocator kept would count against the next input
            self.restarts += 1
        return r

    def _readline(self, timeout: float):
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if sel.select(left):
                    return self.proc.stdout.readline()
        finally:
            sel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    serve(float(sys.argv[1]), int(sys.argv[2]))
