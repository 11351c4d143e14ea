"""Running AIGIF as a user would and checking that it failed cleanly (spec §9.2): the CLI
in-process or in a child process under rlimits, a CPU-time guard for in-process calls, and
the fixtures the hostile-input tests share. Samples themselves are built in samples.py.

A hostile-input test asserts the correct behaviour: a specific aigif error and exit status,
never a traceback, an "internal error" (exit 1), a hang, a huge allocation, an output file
left behind, or a file written that AIGIF itself cannot read back. Hangs and bombs run
under a CPU-time or address-space limit, so a regression costs a few CPU seconds and a
clean failure instead of a stuck suite; the limits are generous multiples of what correct
code needs (no timing assertions).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aigif.cli.main import main
from aigif.errors import ExitStatus
from samples import pixels_only_aigif

REPO = Path(__file__).resolve().parents[1]


def regression(reason: str):
    """Marks a regression test for a bug QA found and the lead fixed; `reason` says what it
    was (kept in the source, where the next reader of the test needs it)."""
    return pytest.mark.regression


# -- fixtures: import them into a test module to use them ---------------------------------------
@pytest.fixture(autouse=True)
def user_facing_env(monkeypatch):
    """AIGIF_DEBUG re-raises internal errors and AIGIF_ALLOW_DOWNLOAD allows the network;
    the behaviour under test is the user's, without either."""
    monkeypatch.delenv("AIGIF_DEBUG", raising=False)
    monkeypatch.delenv("AIGIF_ALLOW_DOWNLOAD", raising=False)


@pytest.fixture
def good_aigif(tmp_path) -> Path:
    """tmp_path/good.aigif: a valid pixels-only file (samples.pixels_only_aigif)."""
    p = tmp_path / "good.aigif"
    p.write_bytes(pixels_only_aigif())
    return p


# -- running the CLI ------------------------------------------------------------------------------
def cli(capsys, *args):
    """In-process CLI run -> (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(code), captured.out, captured.err


def assert_fails_cleanly(code: int, err: str, status=None):
    """A specific aigif error: no traceback, no "internal error", the expected status
    (or, where the right one is a design choice, any status but 0 and 1)."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if status is None:
        assert code not in (ExitStatus.OK, ExitStatus.FAILURE), f"exit {code}: {err}"
    else:
        assert code == status, f"exit {code}, expected {int(status)}: {err}"
    assert err.lstrip().startswith(("aigif:", "usage:")), err


def bounded_cli(args, cwd, *, cpu_seconds=15, address_space=None):
    """The CLI in a child process with rlimits: a hang dies of SIGXCPU, a bomb of
    MemoryError, instead of stalling or swapping the machine."""

    def limit():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {k: v for k, v in os.environ.items() if k not in ("AIGIF_DEBUG", "AIGIF_ALLOW_DOWNLOAD")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-m", "aigif", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=limit, timeout=600,
    )
    return r.returncode, r.stdout, r.stderr


def killed_by_cpu_limit(returncode: int) -> bool:
    """A child's exit status that means the CPU rlimit ended it."""
    return returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU)


def files_in(directory: Path) -> list[str]:
    """Everything in a folder, hidden temp files (.NAME.xxxx.tmp) included."""
    return sorted(p.name for p in directory.iterdir())


# -- in-process hang detection ------------------------------------------------------------------
class CpuTimeExceeded(Exception):
    pass


class cpu_time_guard:
    """Interrupt Python code that burns more than `seconds` of CPU time (ITIMER_PROF counts
    CPU, not wall time, so a loaded machine cannot trip it): a hang detector for code that
    returns to the interpreter, not a benchmark."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        def handler(signum, frame):
            raise CpuTimeExceeded(f"over {self.seconds} s of CPU time")

        self.previous = signal.signal(signal.SIGPROF, handler)
        signal.setitimer(signal.ITIMER_PROF, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, self.previous)
        return False
