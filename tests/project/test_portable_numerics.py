"""The suite runs under portable CPU numerics (aigif/diffusion/portable.py), and every float
golden in tests/goldens/ says it was made under the same profile: a golden made under
another one holds only on the CPU that made it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aigif.diffusion import portable

torch = pytest.importorskip("torch")

GOLDENS = Path(__file__).resolve().parents[1] / "goldens"
# parser and noise-integer goldens: no float kernel makes them
NO_FLOATS = {"a1111/prompt_attention.json", "a1111/prompt_multicond.json",
             "a1111/prompt_schedules.json", "a1111/rng.json", "comfyui/validation.json"}


def _cpu_has_avx2() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return " avx2" in flags


def test_this_process_runs_the_profile():
    described = portable.describe(torch)
    for name, value in portable.ENVIRONMENT.items():
        assert os.environ[name] == value
    assert described["mkl_cbwr"] == "COMPATIBLE"
    assert described["mkldnn"] is False and described["nnpack"] is False
    # (the thread count is not checked here: one-thread golden tests set their own)
    if _cpu_has_avx2():
        assert described["aten_cpu_capability"] == "AVX2"


FLOAT_GOLDENS = sorted(name for name in (str(p.relative_to(GOLDENS)) for p in GOLDENS.glob("*/*.json"))
                       if name not in NO_FLOATS)


@pytest.mark.parametrize("path", FLOAT_GOLDENS)
def test_float_goldens_record_the_profile(path):
    numerics = json.loads((GOLDENS / path).read_text()).get("numerics")
    assert numerics, f"{path} does not say which numerics made it"
    assert numerics["mkl_cbwr"] == portable.ENVIRONMENT["MKL_CBWR"]
    assert numerics["aten_cpu_capability"] == portable.ENVIRONMENT["ATEN_CPU_CAPABILITY"].upper()
    assert numerics["mkldnn"] is False and numerics["nnpack"] is False
    assert numerics["torch"] == torch.__version__, "goldens are bit-exact for one torch release"


def test_asking_after_torch_loaded_is_refused(monkeypatch):
    # torch is imported in this process: a profile asked for now could not bind
    monkeypatch.delenv("MKL_CBWR")
    with pytest.raises(portable.PortableNumericsError, match="MKL_CBWR"):
        portable.apply_environment()


def test_the_profile_binds_in_a_fresh_process():
    """`load_torch` (what tools/goldens/_numerics.py and tests/conftest.py call) sets the
    pins before torch loads, and they reach torch: ATen reports AVX2 and the convolution back-ends are off."""
    script = ("import json\nfrom aigif.diffusion import portable\n"
              "print(json.dumps(portable.describe(portable.load_torch())))\n")
    env = {k: v for k, v in os.environ.items() if k not in portable.ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    described = json.loads(out.stdout)
    assert described["mkl_cbwr"] == "COMPATIBLE" and described["mkldnn"] is False
    assert described["nnpack"] is False and described["threads"] == portable.THREADS
    if _cpu_has_avx2():
        assert described["aten_cpu_capability"] == "AVX2"


KERNELS = r"""
import hashlib, sys
from aigif.diffusion import portable
if sys.argv[1] == "portable":
    torch = portable.load_torch()
else:
    import torch
from aigif.diffusion.kdiffusion.model import DiscreteSchedule, ldm_alphas_cumprod
g = torch.Generator().manual_seed(3)
x = torch.randn(1, 8, 24, 24, generator=g)
w = torch.randn(16, 8, 3, 3, generator=g)
m = torch.randn(77, 96, generator=g)
outs = [
    DiscreteSchedule.from_alphas_cumprod(ldm_alphas_cumprod()).sigmas,   # oneMKL VML pow
    torch.nn.functional.conv2d(x, w, padding=1),                         # the convolution back-end
    torch.nn.functional.linear(m, m[:64]),                               # GEMM
    torch.softmax(m, dim=-1), torch.nn.functional.silu(m).exp(),          # ATen's vector maths
]
print(hashlib.sha256(b"".join(t.contiguous().numpy().tobytes() for t in outs)).hexdigest())
"""
# What a CPU without AVX-512 (and one whose oneMKL takes another path) looks like to the
# libraries that dispatch at run time: glibc's libm variants and oneMKL's code paths.
NARROWER_CPU = {
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512BW,-AVX512CD,-AVX512DQ,-AVX512VL,-AVX512_FP16",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
}


def _kernels_digest(mode: str, extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in portable.ENVIRONMENT}
    env.update(extra)
    out = subprocess.run([sys.executable, "-c", KERNELS, mode], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return out.stdout.strip()


def test_the_profiles_bits_do_not_depend_on_which_instructions_the_cpu_offers():
    """The same kernels give the same bits when glibc and oneMKL are shown a narrower CPU:
    what makes the goldens hold on machines other than the one that made them.  (Without the
    profile the VML pow alone differs in 165 of the 1,000 sigmas between oneMKL's AVX2 and
    SSE paths on an AVX-512 Xeon.)"""
    assert _kernels_digest("portable", {}) == _kernels_digest("portable", NARROWER_CPU)
