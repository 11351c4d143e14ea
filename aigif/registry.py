"""The model and scheduler index (spec §6 and registry/): plain TOML data, no torch.

Sources, in load order (spec §6.1):
1. the built-in registry shipped with AIGIF (official IDs 1-4095);
2. directories contributed by installed packages through the ``aigif.registry``
   entry-point group (experimental IDs 4096-65535), only when the user opts in
   (AIGIF_REGISTRY_PLUGINS=1, `aigif --plugins`, or `enable_plugins()`): loading an entry
   point runs the installing package's code, and reading a file someone sent must not;
3. the user's own entries in ``<user config dir>/aigif/registry/models`` (private IDs
   from 1048576), written by ``aigif registry add``.

A duplicate ID, name or alias across entries is a `RegistryError`: a file's model ID must
mean one thing, so conflicts are never resolved by load order.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import limits
from .errors import RegistryError, UnknownModel

OFFICIAL_IDS = range(1, 4096)
EXPERIMENTAL_IDS = range(4096, 65536)
PRIVATE_IDS = range(1 << 20, 1 << 31)
STATUS_RANGES = {"official": OFFICIAL_IDS, "experimental": EXPERIMENTAL_IDS, "private": PRIVATE_IDS}
FAMILIES = {"sd1", "sd2", "sdxl", "sdxl-refiner", "sd3", "flux", "pixart", "playground", "other"}
SOURCES = {"hub", "embedded", "local"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.+_-]*$")
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
TOOLS = ("a1111", "comfyui", "invokeai", "diffusers", "novelai")
ENTRY_POINT_GROUP = "aigif.registry"
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth", ".gguf", ".sft")
# spec §6.4: a model's identity fingerprint is the first 8 bytes of the SHA-256 of its
# denoiser's weights (the first *.safetensors, in sorted order, of these folders)
IDENTITY_FINGERPRINT_BYTES = 8
DENOISER_FOLDERS = ("unet", "transformer")


@dataclass(frozen=True)
class Defaults:
    """A model's normative defaults: fields equal to these are not written (spec §5.3)."""

    steps: int
    guidance: Decimal
    width: int
    height: int
    scheduler: int
    negative_prompt: str = ""


@dataclass(frozen=True)
class SchedulerEntry:
    id: int
    name: str
    diffusers_class: str
    config: dict = field(default_factory=dict, hash=False, compare=False)
    approximate: bool = False
    description: str = ""
    aliases: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def a1111_sampler(self) -> tuple[str, str] | None:
        """(A1111 sampler, schedule type) this ID means under a1111 semantics (spec §7.1.1):
        its first `a1111` alias of the form "Sampler|Schedule type"; None without one."""
        for alias in self.aliases.get("a1111", ()):
            sampler, bar, schedule = str(alias).partition("|")
            if bar and sampler and schedule:
                return sampler, schedule
        return None


@dataclass(frozen=True)
class ModelEntry:
    id: int
    name: str
    aliases: tuple
    family: str
    status: str
    license: str
    description: str
    defaults: Defaults
    pipeline: dict = field(hash=False, compare=False)
    components: dict = field(default_factory=dict, hash=False, compare=False)
    fingerprints: tuple = ()
    extra: dict = field(default_factory=dict, hash=False, compare=False)
    origin: str = "builtin"  # builtin | package:<name> | user
    path: Path | None = None  # the TOML file

    @property
    def source_dir(self) -> Path | None:
        """Local folder of an embedded or local pipeline, else None (hub)."""
        src = self.pipeline.get("source")
        rel = self.pipeline.get("path", "")
        if src == "embedded":
            return builtin_dir() / rel
        if src == "local":
            return Path(rel).expanduser()
        return None


def is_weights_fingerprint(fp: dict) -> bool:
    """Only weights identify a model: configs and tokenizers are shared between models.
    A fingerprint without a file is a whole-checkpoint hash (A1111's "Model hash")."""
    return not fp.get("file") or str(fp.get("file", "")).endswith(WEIGHT_SUFFIXES)


def denoiser_weights_file(root: Path) -> Path | None:
    """The file whose hash is a diffusers folder's identity fingerprint (spec §6.4)."""
    for sub in DENOISER_FOLDERS:
        folder = root / sub
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(".safetensors"))
            if files:
                return files[0]
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))  # size and mtime are the cache key: a rewritten file is hashed again


def identity_fingerprint(entry: "ModelEntry") -> bytes | None:
    """The spec §6.4 fingerprint of an entry's weights: from its recorded denoiser hash,
    else hashed from its local folder now; None when neither is there (a hub entry that
    records no hash, a folder that is gone)."""
    recorded = sorted(
        (str(fp["file"]), str(fp["value"]).lower()) for fp in entry.fingerprints
        if fp.get("kind") == "sha256" and str(fp.get("file", "")).split("/")[0] in DENOISER_FOLDERS
        and str(fp.get("file", "")).endswith(".safetensors") and len(str(fp.get("value", ""))) >= 2 * IDENTITY_FINGERPRINT_BYTES
    )
    if recorded:
        return bytes.fromhex(recorded[0][1][: 2 * IDENTITY_FINGERPRINT_BYTES])
    root = entry.source_dir
    try:
        weights = denoiser_weights_file(root) if root is not None and root.is_dir() else None
        if weights is None:
            return None
        st = weights.stat()
        return bytes.fromhex(_sha256_cached(str(weights), st.st_size, st.st_mtime_ns)[: 2 * IDENTITY_FINGERPRINT_BYTES])
    except OSError:
        return None


def fingerprint_matches(entry: "ModelEntry", fingerprint: bytes) -> bool | None:
    """Whether a file's model fingerprint names this entry's weights (spec §6.4): a prefix
    of a weights hash the entry records, or a recorded short hash (A1111's 10 hex digits)
    being a prefix of it.  None when the entry records no weights hash and none can be
    computed: it can be neither confirmed nor ruled out."""
    want = fingerprint.hex()
    known = [str(fp["value"]).lower() for fp in entry.fingerprints if is_weights_fingerprint(fp)]
    if not known:
        own = identity_fingerprint(entry)
        if own is None:
            return None
        known = [own.hex()]
    return any(k.startswith(want) or (len(k) >= 10 and want.startswith(k)) for k in known)


def typed_model_key(text: str) -> str | int:
    """What a user typed for a model on the command line: the IDs `aigif registry list`
    prints are numbers ("3" -> 3) unless a name is all digits.  Only for typed input: a
    name in a file or an imported image ("1.safetensors" -> "1") is never read as an ID."""
    key = text.strip()
    if key.isdigit() and len(key) <= 10 and get_registry().find_model(key) is None:
        return int(key)
    return text


def builtin_dir() -> Path:
    try:
        from aigif_registry import REGISTRY_DIR

        return REGISTRY_DIR
    except ImportError:  # running from a source tree without installation
        return Path(__file__).resolve().parents[1] / "registry"


def user_dir() -> Path:
    env = os.environ.get("AIGIF_CONFIG_DIR")
    if env:
        base = Path(env)
    else:
        try:
            from platformdirs import user_config_dir

            base = Path(user_config_dir("aigif"))
        except ImportError:
            base = Path.home() / ".config" / "aigif"
    return base / "registry"


# -- validation ---------------------------------------------------------------------
def _need(d: dict, key: str, typ, where: str):
    if key not in d:
        raise RegistryError(f"{where}: missing key '{key}'")
    value = d[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise RegistryError(f"{where}: '{key}' must be {getattr(typ, '__name__', typ)}")
    return value


def parse_guidance(text: str | int | float, where: str = "guidance") -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise RegistryError(f"{where}: not a decimal: {text!r}") from None
    if not value.is_finite():
        raise RegistryError(f"{where}: not finite")
    exponent = value.as_tuple().exponent
    if not -21 <= exponent <= 12 or (value and not -10 <= value.adjusted() <= 12):
        raise RegistryError(f"{where}: guidance {text!r} is out of range")
    return value


def validate_scheduler(d: dict, where: str) -> SchedulerEntry:
    sid = _need(d, "id", int, where)
    name = _need(d, "name", str, where)
    if sid < 1 or not NAME_RE.match(name):
        raise RegistryError(f"{where}: invalid id or name")
    aliases = d.get("aliases", {})
    if not isinstance(aliases, dict) or any(
        t not in TOOLS or not isinstance(v, list) or not all(isinstance(a, str) for a in v) for t, v in aliases.items()
    ):
        raise RegistryError(f"{where}: aliases must map one of {TOOLS} to a list of strings")
    config = d.get("config", {})
    if not isinstance(config, dict):
        raise RegistryError(f"{where}: config must be a table")
    return SchedulerEntry(
        id=sid,
        name=name,
        diffusers_class=_need(d, "diffusers_class", str, where),
        config=config,
        approximate=bool(d.get("approximate", False)),
        description=str(d.get("description", "")),
        aliases=aliases,
    )


def validate_model(d: dict, where: str, schedulers: dict[str, SchedulerEntry], origin: str = "builtin") -> ModelEntry:
    mid = _need(d, "id", int, where)
    name = _need(d, "name", str, where)
    if not NAME_RE.match(name) or len(name) > limits.MAX_REGISTRY_NAME_LEN:
        raise RegistryError(f"{where}: name '{name[:80]}' must match {NAME_RE.pattern} and have at most {limits.MAX_REGISTRY_NAME_LEN} characters")
    status = _need(d, "status", str, where)
    if status not in STATUS_RANGES:
        raise RegistryError(f"{where}: status must be one of {sorted(STATUS_RANGES)}")
    if mid not in STATUS_RANGES[status]:
        r = STATUS_RANGES[status]
        raise RegistryError(f"{where}: {status} IDs lie in {r.start}..{r.stop - 1}, not {mid}")
    aliases = d.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise RegistryError(f"{where}: aliases must be a list of non-empty strings")
    family = _need(d, "family", str, where)
    if family not in FAMILIES:
        raise RegistryError(f"{where}: family must be one of {sorted(FAMILIES)}")
    dd = _need(d, "defaults", dict, where)
    sched_name = _need(dd, "scheduler", str, where + " [defaults]")
    if sched_name not in schedulers:
        raise RegistryError(f"{where}: default scheduler '{sched_name}' is not in schedulers.toml")
    steps = _need(dd, "steps", int, where + " [defaults]")
    width = _need(dd, "width", int, where + " [defaults]")
    height = _need(dd, "height", int, where + " [defaults]")
    if not (1 <= steps <= 10000 and 1 <= width <= 16384 and 1 <= height <= 16384):
        raise RegistryError(f"{where}: defaults out of range")
    defaults = Defaults(
        steps=steps,
        guidance=parse_guidance(_need(dd, "guidance", str, where + " [defaults]"), where),
        width=width,
        height=height,
        scheduler=schedulers[sched_name].id,
        negative_prompt=str(dd.get("negative_prompt", "")),
    )
    pipe = _need(d, "pipeline", dict, where)
    _need(pipe, "class", str, where + " [pipeline]")
    source = _need(pipe, "source", str, where + " [pipeline]")
    if source not in SOURCES:
        raise RegistryError(f"{where}: pipeline.source must be one of {sorted(SOURCES)}")
    if source == "hub":
        repo = _need(pipe, "repo", str, where + " [pipeline]")
        if not REPO_RE.match(repo) or ".." in repo:
            raise RegistryError(f"{where}: '{repo}' is not a Hugging Face repo id (owner/name)")
        rev = pipe.get("revision", "")
        if rev and not re.fullmatch(r"[0-9a-f]{40}", rev):
            raise RegistryError(f"{where}: pipeline.revision must be a 40-hex commit or empty")
    else:
        _need(pipe, "path", str, where + " [pipeline]")
    for s in pipe.get("schedulers", []):
        if s not in schedulers:
            raise RegistryError(f"{where}: allowed scheduler '{s}' is not in schedulers.toml")
    fps = d.get("fingerprints", [])
    if not isinstance(fps, list):
        raise RegistryError(f"{where}: fingerprints must be an array of tables")
    for i, fp in enumerate(fps):
        w = f"{where} fingerprints[{i}]"
        _need(fp, "kind", str, w)
        value = _need(fp, "value", str, w)
        if not re.fullmatch(r"[0-9a-f]{8,64}", value):
            raise RegistryError(f"{w}: value must be lowercase hex")
    return ModelEntry(
        id=mid,
        name=name,
        aliases=tuple(aliases),
        family=family,
        status=status,
        license=str(d.get("license", "")),
        description=str(d.get("description", "")),
        defaults=defaults,
        pipeline=pipe,
        components=d.get("components", {}),
        fingerprints=tuple(fps),
        extra=d.get("extra", {}),
        origin=origin,
    )


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RegistryError(f"{path}: {e}") from None


# -- the index ----------------------------------------------------------------------
class Registry:
    def __init__(self) -> None:
        self.models: dict[int, ModelEntry] = {}
        self.schedulers: dict[int, SchedulerEntry] = {}
        self._model_keys: dict[str, ModelEntry] = {}
        self._sched_keys: dict[str, SchedulerEntry] = {}
        self._sched_tool: dict[tuple[str, str], SchedulerEntry] = {}
        self._fingerprints: dict[str, ModelEntry] = {}
        self.problems: list[str] = []  # user entries skipped because they are invalid

    # loading
    def load_schedulers(self, path: Path) -> None:
        data = _read_toml(path)
        for i, d in enumerate(data.get("scheduler", [])):
            entry = validate_scheduler(d, f"{path.name}[{i}]")
            if entry.id in self.schedulers:
                raise RegistryError(f"{path.name}: duplicate scheduler ID {entry.id}")
            self.schedulers[entry.id] = entry
            self._add_sched_key(entry.name, entry)
            for tool, names in entry.aliases.items():
                for name in names:
                    key = (tool, name.lower())
                    if key in self._sched_tool and self._sched_tool[key] is not entry:
                        raise RegistryError(f"{path.name}: {tool} alias '{name}' names two schedulers")
                    self._sched_tool[key] = entry
                    if tool == "diffusers" or "|" not in name:
                        self._sched_keys.setdefault(name.lower(), entry)

    def _add_sched_key(self, key: str, entry: SchedulerEntry) -> None:
        k = key.lower()
        if k in self._sched_keys and self._sched_keys[k] is not entry:
            raise RegistryError(f"scheduler name '{key}' is used twice")
        self._sched_keys[k] = entry

    def load_models(self, directory: Path, origin: str = "builtin") -> None:
        by_name = {s.name: s for s in self.schedulers.values()}
        for path in sorted(directory.glob("*.toml")):
            try:
                entry = validate_model(_read_toml(path), path.name, by_name, origin)
                object.__setattr__(entry, "path", path)
                self.add_model(entry)
            except RegistryError as e:
                if origin != "user":
                    raise
                # one broken user entry must not lock the user out of the CLI that repairs it
                import sys

                self.problems.append(f"{path}: {e}")
                print(f"aigif: warning: skipping user registry entry {path}: {e}", file=sys.stderr)

    def add_model(self, entry: ModelEntry) -> None:
        if entry.id in self.models:
            other = self.models[entry.id]
            raise RegistryError(
                f"model ID {entry.id} is used by both '{other.name}' ({other.origin}) and '{entry.name}' ({entry.origin})"
            )
        keys = [entry.name, *entry.aliases]
        for key in keys:
            k = key.lower()
            if k in self._model_keys and self._model_keys[k] is not entry:
                other = self._model_keys[k]
                raise RegistryError(f"model name '{key}' of '{entry.name}' ({entry.origin}) is already used by '{other.name}' ({other.origin})")
        self.models[entry.id] = entry
        for key in keys:
            self._model_keys[key.lower()] = entry
        for fp in entry.fingerprints:
            if is_weights_fingerprint(fp):
                self._fingerprints.setdefault(fp["value"].lower(), entry)

    # lookups
    def find_model(self, key) -> ModelEntry | None:
        if isinstance(key, ModelEntry):
            return key
        if isinstance(key, int) and not isinstance(key, bool):
            return self.models.get(key)
        if isinstance(key, str):
            k = key.strip().lower()
            if k.startswith("#") and k[1:].isdigit():
                return self.models.get(int(k[1:]))
            return self._model_keys.get(k)
        return None

    def find_model_by_name(self, name: str) -> ModelEntry | None:
        """A canonical name or alias only: a name a file writes inline never means an ID."""
        return self._model_keys.get(name.strip().lower())

    def suggest_model(self, key: str) -> str | None:
        """The registered name closest to a mistyped one ("sd-15" -> "sd-1.5"), or None."""
        import difflib  # lazy: only error paths need it

        names = sorted(self._model_keys)
        hits = difflib.get_close_matches(str(key).strip().lower(), names, n=1, cutoff=0.7)
        return self._model_keys[hits[0]].name if hits else None

    def suggest_scheduler(self, key: str) -> str | None:
        import difflib  # lazy: only error paths need it

        hits = difflib.get_close_matches(str(key).strip().lower(), sorted(self._sched_keys), n=1, cutoff=0.6)
        return self._sched_keys[hits[0]].name if hits else None

    def model(self, key) -> ModelEntry:
        entry = self.find_model(key)
        if entry is None:
            hint = plugins_hint()
            near = self.suggest_model(key) if isinstance(key, str) else None
            raise UnknownModel(
                f"model {key!r} is not in the registry" + (f"; did you mean '{near}'?" if near else "")
                + " (see `aigif registry list`)" + (f"; {hint}" if hint else ""),
                model=key,
            )
        return entry

    def model_by_fingerprint(self, value: str) -> ModelEntry | None:
        v = value.strip().lower()
        if v.startswith("0x"):
            v = v[2:]
        if v in self._fingerprints:
            return self._fingerprints[v]
        if len(v) >= 10:  # a full sha256 also matches its A1111 10-hex prefix, and vice versa
            for fp, entry in self._fingerprints.items():
                if len(fp) >= 10 and (fp.startswith(v) or v.startswith(fp)):
                    return entry
        return None

    def find_scheduler(self, key) -> SchedulerEntry | None:
        if isinstance(key, SchedulerEntry):
            return key
        if isinstance(key, int) and not isinstance(key, bool):
            return self.schedulers.get(key)
        if isinstance(key, str):
            return self._sched_keys.get(key.strip().lower())
        return None

    def scheduler(self, key) -> SchedulerEntry:
        entry = self.find_scheduler(key)
        if entry is None:
            near = self.suggest_scheduler(key) if isinstance(key, str) else None
            raise RegistryError(f"scheduler {key!r} is not in the scheduler table" + (f"; did you mean '{near}'?" if near else ""))
        return entry

    def scheduler_from_tool(self, tool: str, sampler: str, schedule: str | None = None) -> SchedulerEntry | None:
        """Map another tool's sampler (+ schedule type) to a scheduler entry.

        The combined alias "sampler|schedule" wins; the bare sampler name is the
        fallback, which is what A1111's "Automatic" schedule means.
        """
        sampler = (sampler or "").strip().lower()
        schedule = (schedule or "").strip().lower()
        if schedule:
            hit = self._sched_tool.get((tool, f"{sampler}|{schedule}"))
            if hit:
                return hit
        return self._sched_tool.get((tool, sampler))

    def default_model(self) -> ModelEntry:
        return self.model(DEFAULT_MODEL_ID)


DEFAULT_MODEL_ID = 1  # spec §5.3: an absent model field means registry ID 1 (tiny-sd)


PLUGINS_ENV = "AIGIF_REGISTRY_PLUGINS"
_plugins_opted_in = False


def plugins_enabled() -> bool:
    """Whether entry-point registry plugins are loaded: the user's opt-in, never a file's."""
    return _plugins_opted_in or os.environ.get(PLUGINS_ENV, "") == "1"


def enable_plugins(on: bool = True) -> None:
    """Load (or stop loading) entry-point registry plugins from now on in this process."""
    global _plugins_opted_in
    _plugins_opted_in = on
    reset_registry()


def installed_plugins() -> list[str]:
    """Names of the installed registry entry points, read from package metadata only:
    nothing is imported, so this is safe to call without the opt-in."""
    from importlib.metadata import entry_points

    try:
        return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
    except Exception:  # unreadable metadata of some package: it is not a plugin we can name
        return []


def plugins_hint() -> str:
    """A sentence for errors and listings when installed plugins were not loaded, else ""."""
    if plugins_enabled():
        return ""
    names = installed_plugins()
    if not names:
        return ""
    return (f"{len(names)} installed registry plugin(s) not loaded ({', '.join(names[:5])}); "
            f"to use them set {PLUGINS_ENV}=1 or run `aigif --plugins ...` (they run that package's code)")


def load_registry(builtin: Path | None = None, user: Path | None = None, entry_points: bool | None = None) -> Registry:
    """entry_points: load the entry-point plugins; None (default) = only if plugins_enabled()."""
    if entry_points is None:
        entry_points = plugins_enabled()
    reg = Registry()
    base = builtin or Path(os.environ.get("AIGIF_REGISTRY_DIR", "") or builtin_dir())
    reg.load_schedulers(base / "schedulers.toml")
    reg.load_models(base / "models", "builtin")
    if entry_points:
        for name, directory in _entry_point_dirs():
            reg.load_models(Path(directory) / "models" if (Path(directory) / "models").is_dir() else Path(directory), f"package:{name}")
    udir = user or user_dir()
    if (udir / "models").is_dir():
        reg.load_models(udir / "models", "user")
    return reg


def _entry_point_dirs():
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            directory = target() if callable(target) else target
        except Exception as e:  # a broken third-party package must not break AIGIF
            raise RegistryError(f"registry entry point '{ep.name}' failed to load: {e}") from None
        yield ep.name, directory


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    return load_registry()


def reset_registry() -> None:
    """Forget the cached registry (after `aigif registry add/remove`, or in tests)."""
    get_registry.cache_clear()


# -- writing user entries -------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (str, Decimal)):
        s = str(v)
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def dump_model_toml(d: dict) -> str:
    """Serialise a model entry dict (the schema of registry/models/*.toml)."""
    lines = []
    tables = []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
        else:
            for item in v:
                lines += ["", f"[[{k}]]"] + [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"
