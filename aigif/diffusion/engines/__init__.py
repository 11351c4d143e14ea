"""Generation engines: one sub-package per tool whose semantics AIGIF reproduces.

diffusers' semantics live in aigif.diffusion itself (run.py); engines/<tool>/ holds what a
tool does differently (its noise, its prompt syntax, its sampler wiring), built on the
shared k-diffusion algorithms in aigif.diffusion.kdiffusion.
"""
