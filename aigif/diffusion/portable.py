"""Portable CPU numerics: one set of float kernels on every x86-64 machine.

The same torch wheel gives different float32 bits on different CPUs, because three of
its libraries choose their kernels by the CPU they find:

- ATen's vectorised kernels (elementwise maths through SLEEF, reductions) are built
  once per instruction set and picked at run time: AVX-512 and AVX2 round
  transcendental functions differently and reduce in different orders;
- oneMKL picks a code path per CPU for BLAS and for its vector maths (VML, which torch
  uses for pow, exp and others on long tensors); it takes a different path on AMD than
  on Intel, and a different one on each Intel generation;
- oneDNN and NNPACK, torch's CPU convolution back-ends, pick JIT kernels and
  algorithms (NNPACK's Winograd and FFT among them) by instruction set and cache size.

Measured on torch 2.14.1+cu130: k-diffusion's training sigmas,
`((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` over 1,000 levels, differ in 11 of
1,000 values between oneMKL's AVX-512 and AVX2 paths on one Intel Xeon, and in 165
between its AVX2 and SSE2 paths.

This profile pins each choice to one that every x86-64 CPU runs the same way:

- ``ATEN_CPU_CAPABILITY=avx2``: ATen's AVX2 kernels (every CPU of this decade has
  AVX2; torch uses its generic kernels where one has not, and says so in
  `torch.backends.cpu.get_cpu_capability()`, which `describe` reports);
- ``MKL_CBWR=COMPATIBLE``: oneMKL's conditional numerical reproducibility on its SSE2
  branch, the one branch Intel documents as giving the same results on Intel and
  non-Intel CPUs (its AVX2 branch falls back to per-CPU dispatch on AMD);
- oneDNN and NNPACK convolutions off, so that convolutions run ATen's own im2col and
  oneMKL's pinned GEMM;
- a fixed intra-op thread count, since parallel reductions split by thread.

The first two are read when torch loads its kernels, so `apply_environment` must run
before torch is first imported; `configure_torch` then sets the switches torch reads
per call; `load_torch` does both around the import.  The test suite and the golden tools (tools/goldens/) both run under this
profile, so a golden number made on one machine checks the code bit for bit on
another.  It costs speed (oneMKL's SSE2 GEMM, no oneDNN), so it is a choice, never a
default for generation.
"""

from __future__ import annotations

import os
import sys

# Read by torch and oneMKL at load time (see the module docstring for why each).
ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
}
THREADS = 2


class PortableNumericsError(RuntimeError):
    """The profile was asked for after torch had already loaded its kernels."""


def apply_environment(threads: int = THREADS) -> None:
    """Set the load-time switches; refuses once torch is imported (too late to bind)."""
    if "torch" in sys.modules:
        mismatched = {k: v for k, v in ENVIRONMENT.items() if os.environ.get(k) != v}
        if mismatched:
            raise PortableNumericsError(
                "portable CPU numerics must be chosen before torch is imported; "
                f"these were not set when it was: {', '.join(sorted(mismatched))}")
    os.environ.update(ENVIRONMENT)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)


def configure_torch(torch, threads: int = THREADS) -> None:
    """The per-call switches: convolution back-ends and the thread count."""
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    torch.set_num_threads(threads)


def load_torch(threads: int = THREADS):
    """The whole profile: the load-time switches, the import, the per-call switches.
    Returns the torch module (ImportError where torch is not installed)."""
    apply_environment(threads)
    import torch

    configure_torch(torch, threads)
    return torch


def describe(torch) -> dict:
    """What the running process actually uses: the "numerics" record of a golden."""
    return {
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_cbwr": os.environ.get("MKL_CBWR", ""),
        "mkldnn": bool(torch.backends.mkldnn.enabled),
        "nnpack": bool(torch._C._get_nnpack_enabled()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
