"""Loading registry models as diffusers pipelines, once per process, and scheduler swaps.

Loading never touches the network unless the caller allows it (`--allow-download` or
AIGIF_ALLOW_DOWNLOAD=1): hub entries load with local_files_only=True, and every
failure to find or read weights becomes a ModelUnavailable saying how to get them.
Only safetensors are ever read (use_safetensors=True; no pickle) and no remote code.

This layer loads whatever entry it is given.  Whether an entry may be loaded at all is
decided above it, in aigif.regenerate.trusted_model: an inline model name from a file
(origin "inline") is loaded only with the user's consent (trust_inline_model=True,
`--trust-inline-model`) or through a registry entry of that name.  Callers of
aigif.diffusion.generate pass a ResolvedSyntax they built, and so chose its model.
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelUnavailable, RegistryError, UnsupportedFeature
from ._quiet import quiet_libraries
from .compat import patch_pipeline
from ._stack import check_device, import_stack, torch_dtype
from .determinism import normalise_attention

ALLOW_DOWNLOAD_ENV = "AIGIF_ALLOW_DOWNLOAD"


def downloads_allowed(allow_download: bool) -> bool:
    return bool(allow_download) or os.environ.get(ALLOW_DOWNLOAD_ENV, "") == "1"


def describe(entry) -> str:
    pipe = entry.pipeline
    if pipe.get("source") == "hub":
        rev = pipe.get("revision") or "main (unpinned)"
        return f"'{entry.name}' (registry ID {entry.id}, {pipe.get('repo')} @ {rev})"
    return f"'{entry.name}' (registry ID {entry.id}, {entry.source_dir})"


def how_to_get(entry, downloads_were_allowed: bool = False) -> str:
    """How the user gets the weights; `hf download` is huggingface_hub's CLI (the older
    huggingface-cli is gone), and --allow-download is suggested only when it was not given."""
    pipe = entry.pipeline
    if pipe.get("source") != "hub":
        return "reinstall AIGIF or restore the folder" if pipe.get("source") == "embedded" else "check the path of the local entry"
    rev = f" --revision {pipe['revision']}" if pipe.get("revision") else ""
    gated = " (a gated repo: accept its licence on huggingface.co and `hf auth login` first)" if pipe.get("gated") else ""
    rerun = "" if downloads_were_allowed else ", or rerun with --allow-download"
    return f"run `hf download {pipe.get('repo')}{rev}`{gated}{rerun}"


def _load_errors():
    """Exceptions meaning "these weights cannot be loaded here"; anything else is a bug."""
    errors: list[type] = [OSError, ValueError, KeyError]
    try:
        from huggingface_hub import errors as hub_errors

        errors.append(hub_errors.EntryNotFoundError)  # not an OSError in huggingface_hub >= 1
    except ImportError:
        pass
    try:
        from safetensors import SafetensorError

        errors.append(SafetensorError)
    except ImportError:
        pass
    return tuple(errors)


def pipeline_class(diffusers, entry):
    name = entry.pipeline.get("class", "")
    cls = getattr(diffusers, name, None) if name.isidentifier() else None
    if cls is None or not isinstance(cls, type) or not issubclass(cls, diffusers.DiffusionPipeline):
        raise RegistryError(
            f"model {entry.name!r}: pipeline class {name!r} is not a diffusers pipeline in diffusers {diffusers.__version__}"
        )
    return cls


def _from_pretrained(cls, entry, *, dtype, allow_download: bool):
    pipe = entry.pipeline
    kwargs = dict(use_safetensors=True)
    kwargs[_dtype_kwarg()] = dtype
    source = pipe.get("source")
    if source == "hub":
        location = pipe.get("repo", "")
        kwargs.update(local_files_only=not allow_download, revision=pipe.get("revision") or None)
        if pipe.get("variant"):
            kwargs["variant"] = pipe["variant"]
    else:
        folder = entry.source_dir
        if folder is None or not (Path(folder) / "model_index.json").is_file():
            raise ModelUnavailable(
                f"model {describe(entry)}: no diffusers pipeline folder there; {how_to_get(entry)}",
                model=entry.name,
            )
        location = str(folder)
        kwargs.update(local_files_only=True)
    # No safety checker: it blacks out pixels that the tools writing the originals (A1111,
    # ComfyUI, ...) never blacked out, and skipping it avoids loading its weights.  The
    # generic DiffusionPipeline (inline model names) resolves its class from
    # model_index.json, so it gets the overrides too; a class without them ignores them.
    generic = cls.__name__ == "DiffusionPipeline"
    for optional in ("safety_checker", "feature_extractor", "image_encoder"):
        if generic or optional in cls._optional_components:
            kwargs[optional] = None
    if generic or "requires_safety_checker" in _init_params(cls):
        kwargs["requires_safety_checker"] = False
    try:
        with quiet_libraries():
            return cls.from_pretrained(location, **kwargs)
    except _load_errors() as e:
        where = "locally" if kwargs["local_files_only"] else "locally or from the hub"
        raise ModelUnavailable(
            f"weights of model {describe(entry)} are not available {where}: {how_to_get(entry, not kwargs['local_files_only'])} "
            f"[{type(e).__name__}: {_first_line(e)}]",
            model=entry.name,
            repo=pipe.get("repo", ""),
            revision=pipe.get("revision", ""),
        ) from None


def _dtype_kwarg() -> str:
    """diffusers renamed from_pretrained's torch_dtype to dtype (old name deprecated)."""
    from diffusers.pipelines import pipeline_utils

    return "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"


def _init_params(cls) -> set:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)


def _first_line(e: BaseException, limit: int = 300) -> str:
    """The inner error's first line, shortened at a word boundary (never mid-word)."""
    text = str(e).strip().splitlines()
    line = text[0] if text else ""
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit].rstrip() + " …"


@dataclass
class CachedPipeline:
    """A loaded pipeline plus what it takes to use it safely from several calls."""

    pipe: object
    key: tuple
    device: str
    dtype: str
    attention: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    schedulers: dict = field(default_factory=dict)

    def scheduler_for(self, diffusers, entry):
        """A fresh scheduler of `entry`'s class configured from the model's own config.

        A pristine instance is cached per scheduler; each call gets a deep copy, because
        schedulers carry step state (step index, multistep history) that must never leak
        from one image into the next.
        """
        key = (entry.name, entry.diffusers_class, repr(sorted(entry.config.items())))
        proto = self.schedulers.get(key)
        if proto is None:
            cls = getattr(diffusers, entry.diffusers_class, None) if entry.diffusers_class.isidentifier() else None
            if cls is None or not isinstance(cls, type) or not hasattr(cls, "from_config"):
                raise UnsupportedFeature(
                    f"scheduler {entry.name!r} needs diffusers.{entry.diffusers_class}, "
                    f"which diffusers {diffusers.__version__} does not have",
                    scheduler=entry.name,
                )
            try:
                proto = cls.from_config(self.pipe.scheduler.config, **dict(entry.config))
            except (TypeError, ValueError) as e:
                raise UnsupportedFeature(f"scheduler {entry.name!r} cannot be configured for this model: {e}") from None
            self.schedulers[key] = proto
        return copy.deepcopy(proto)


class PipelineCache:
    """Loaded pipelines keyed by (model, device, dtype, attention): a batch of files that
    use one model loads it once."""

    def __init__(self) -> None:
        self._items: dict[tuple, CachedPipeline] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(entry, device: str, dtype: str, attention: str) -> tuple:
        pipe = entry.pipeline
        where = pipe.get("repo") if pipe.get("source") == "hub" else str(entry.source_dir)
        return (entry.id, entry.name, pipe.get("source"), where, pipe.get("revision", ""), pipe.get("variant", ""), device, dtype, attention)

    def get(self, entry, *, device: str = "cpu", dtype: str | None = None, attention: str | None = None, allow_download: bool = False) -> CachedPipeline:
        torch, diffusers = import_stack()
        dtype_name = dtype or entry.pipeline.get("torch_dtype") or "float32"
        mode = normalise_attention(attention)
        key = self.key(entry, device, dtype_name, mode)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                return hit
            check_device(torch, device)
            cls = pipeline_class(diffusers, entry)
            pipe = _from_pretrained(cls, entry, dtype=torch_dtype(torch, dtype_name), allow_download=downloads_allowed(allow_download))
            patch_pipeline(pipe)
            with quiet_libraries():  # diffusers warns on every fp16 -> CPU move
                pipe = pipe.to(device)
            pipe.set_progress_bar_config(disable=True)
            if mode == "xformers":
                try:
                    pipe.enable_xformers_memory_efficient_attention()
                except (ImportError, ModuleNotFoundError, ValueError, RuntimeError) as e:
                    raise UnsupportedFeature(f"attention 'xformers' is not usable here: {_first_line(e)}") from None
            hit = CachedPipeline(pipe=pipe, key=key, device=device, dtype=dtype_name, attention=mode)
            self._items[key] = hit
            return hit

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


DEFAULT_CACHE = PipelineCache()


def load_pipeline(entry, *, allow_download: bool = False, device: str = "cpu", dtype: str | None = None, attention: str | None = None, cache: PipelineCache | None = None):
    """The diffusers pipeline of a registry ModelEntry (cached per process)."""
    return (cache or DEFAULT_CACHE).get(entry, device=device, dtype=dtype, attention=attention, allow_download=allow_download).pipe
