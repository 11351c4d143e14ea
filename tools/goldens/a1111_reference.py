"""Load AUTOMATIC1111's own modules from a checkout given on the command line, with the
few webui globals they read (shared.opts, devices.device) stubbed, so that golden
numbers can be produced by A1111's code itself.  Nothing of A1111 is copied here: the
checkout stays outside this repository (see tests/goldens/a1111/README.md)."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)


def load(checkout: str | Path, extra_site: str | Path | None = None):
    """Return a namespace whose .opts can be edited and whose .module(name) imports
    modules/<name>.py from `checkout` (e.g. "rng", "rng_philox", "prompt_parser")."""
    import torch

    checkout = Path(checkout).resolve()
    if not (checkout / "modules" / "rng.py").is_file():
        raise SystemExit(f"{checkout} is not a stable-diffusion-webui checkout (no modules/rng.py)")
    if extra_site:
        sys.path.insert(0, str(Path(extra_site).resolve()))

    package = types.ModuleType("modules")
    package.__path__ = [str(checkout / "modules")]
    sys.modules["modules"] = package

    opts = types.SimpleNamespace(randn_source="CPU", eta_noise_seed_delta=0)
    shared = types.ModuleType("modules.shared")
    shared.opts = opts
    shared.device = torch.device("cpu")
    devices = types.ModuleType("modules.devices")
    devices.device = torch.device("cpu")
    devices.cpu = torch.device("cpu")
    for name, module in (("shared", shared), ("devices", devices)):
        sys.modules[f"modules.{name}"] = module
        setattr(package, name, module)

    def module(name: str):
        return importlib.import_module(f"modules.{name}")

    return types.SimpleNamespace(opts=opts, module=module, checkout=checkout)
