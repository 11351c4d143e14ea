"""`aigif registry`: list, show, add, remove and verify model entries; list schedulers.

User entries live in the user's config directory (AIGIF_CONFIG_DIR overrides it) and take
private IDs from 1048576 up, so they can never collide with official IDs in a file.
Entries of installed registry plugins (experimental IDs) appear only with
`aigif --plugins registry ...` or AIGIF_REGISTRY_PLUGINS=1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .._extras import require
from ..defaults import GENERIC_DEFAULTS
from ..errors import ExitStatus, FileAccessError, InvalidSyntax, ModelUnavailable, RegistryError
from ..fileio import write_atomic
from ..limits import MAX_REGISTRY_NAME_LEN
from ..registry import (
    NAME_RE,
    PRIVATE_IDS,
    WEIGHT_SUFFIXES,
    dump_model_toml,
    get_registry,
    plugins_hint,
    reset_registry,
    sha256_file,
    typed_model_key,
    user_dir,
    validate_model,
)


def add_parser(sub) -> None:
    p = sub.add_parser("registry", help="the model and scheduler index", description=__doc__)
    rs = p.add_subparsers(dest="action", metavar="ACTION")
    ls = rs.add_parser("list", help="all model entries")
    ls.add_argument("--json", action="store_true")
    show = rs.add_parser("show", help="one entry in full")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    add = rs.add_parser("add", help="add a user entry for a local diffusers folder or a hub repo")
    add.add_argument("name", help="canonical name for the new entry")
    src = add.add_mutually_exclusive_group(required=True)
    src.add_argument("--path", help="local diffusers pipeline folder")
    src.add_argument("--repo", help="Hugging Face repo id")
    add.add_argument("--revision", default="", help="40-hex commit to pin (hub)")
    add.add_argument("--id", type=int, help="private ID (default: next free from 1048576)")
    add.add_argument("--like", help="copy family, pipeline class and defaults from this entry")
    add.add_argument("--pipeline-class", help="diffusers pipeline class (default: from model_index.json)")
    add.add_argument("--family", default=None)
    add.add_argument("--alias", action="append", default=[])
    for key, typ in (("steps", int), ("guidance", str), ("width", int), ("height", int), ("scheduler", str)):
        add.add_argument(f"--{key}", type=typ)
    rm = rs.add_parser("remove", help="remove a user entry")
    rm.add_argument("name")
    ver = rs.add_parser("verify", help="hash local weights and compare with the entry's fingerprints")
    ver.add_argument("name")
    ver.add_argument("--allow-download", action="store_true")
    sch = rs.add_parser("schedulers", help="the scheduler table")
    sch.add_argument("--json", action="store_true")
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    action = args.action or "list"
    reg = get_registry()
    if action == "list":
        return _list(reg, getattr(args, "json", False))
    if action == "show":
        return _show(reg.model(typed_model_key(args.name)), args.json)
    if action == "schedulers":
        return _schedulers(reg, args.json)
    if action == "add":
        return _add(reg, args)
    if action == "remove":
        return _remove(reg, typed_model_key(args.name))
    if action == "verify":
        return _verify(reg.model(typed_model_key(args.name)), args.allow_download)
    raise InvalidSyntax(f"unknown registry action {action}")


def _entry_dict(e) -> dict:
    return {
        "id": e.id,
        "name": e.name,
        "aliases": list(e.aliases),
        "family": e.family,
        "status": e.status,
        "origin": e.origin,
        "license": e.license,
        "description": e.description,
        "defaults": {
            "steps": e.defaults.steps,
            "guidance": str(e.defaults.guidance),
            "width": e.defaults.width,
            "height": e.defaults.height,
            "scheduler": _sched_name(e.defaults.scheduler),
            "negative_prompt": e.defaults.negative_prompt,
        },
        "pipeline": e.pipeline,
        "components": e.components,
        "fingerprints": list(e.fingerprints),
        "file": str(e.path) if e.path else None,
    }


def _sched_name(sid: int) -> str:
    s = get_registry().find_scheduler(sid)
    return s.name if s else str(sid)


def _list(reg, as_json: bool) -> int:
    entries = sorted(reg.models.values(), key=lambda e: e.id)
    if as_json:
        print(json.dumps([_entry_dict(e) for e in entries], indent=2, default=str))
        return ExitStatus.OK
    print(f"{'ID':>8}  {'name':34s} {'family':12s} {'source':9s} {'origin':8s} repo / path")
    for e in entries:
        where = e.pipeline.get("repo") or e.pipeline.get("path", "")
        print(f"{e.id:>8}  {e.name:34s} {e.family:12s} {e.pipeline.get('source', ''):9s} {e.origin:8s} {where}")
    print(f"{len(entries)} models, {len(reg.schedulers)} schedulers")
    hint = plugins_hint()
    if hint:
        print(f"aigif: note: {hint}", file=sys.stderr)
    return ExitStatus.OK


def _show(e, as_json: bool) -> int:
    d = _entry_dict(e)
    if as_json:
        print(json.dumps(d, indent=2, default=str))
        return ExitStatus.OK
    print(f"{e.name}  (ID {e.id}, {e.status}, {e.origin})")
    print(f"  {e.description}")
    print(f"  family       {e.family}")
    print(f"  license      {e.license}")
    print(f"  aliases      {', '.join(e.aliases) or '-'}")
    p = e.pipeline
    print(f"  pipeline     {p.get('class')}  source={p.get('source')}")
    if p.get("source") == "hub":
        verified = "verified" if p.get("revision_verified") else "UNVERIFIED"
        print(f"  repo         {p.get('repo')}")
        print(f"  revision     {p.get('revision') or '(not pinned)'}  ({verified})")
    else:
        print(f"  path         {e.source_dir}")
    print(f"  dtype        {p.get('torch_dtype', 'float32')}  variant={p.get('variant') or '-'}")
    print(f"  schedulers   {', '.join(p.get('schedulers', []))}")
    dd = d["defaults"]
    print(f"  defaults     steps={dd['steps']} guidance={dd['guidance']} size={dd['width']}x{dd['height']} scheduler={dd['scheduler']}")
    for name, comp in (e.components or {}).items():
        print(f"  component    {name}: {comp}")
    if not e.fingerprints:
        print("  fingerprints -")
    for fp in e.fingerprints:
        verified = "verified" if fp.get("verified") else "UNVERIFIED"
        print(f"  fingerprint  {fp['kind']:12s} {fp['value']}  {fp.get('file', '')}  ({verified})")
    return ExitStatus.OK


def _schedulers(reg, as_json: bool) -> int:
    entries = sorted(reg.schedulers.values(), key=lambda s: s.id)
    if as_json:
        print(json.dumps([{"id": s.id, "name": s.name, "diffusers_class": s.diffusers_class, "config": s.config, "approximate": s.approximate, "aliases": s.aliases} for s in entries], indent=2))
        return ExitStatus.OK
    for s in entries:
        cfg = " ".join(f"{k}={v}" for k, v in s.config.items())
        a1111 = ", ".join(s.aliases.get("a1111", [])[:3])
        print(f"{s.id:>4}  {s.name:24s} {s.diffusers_class:36s} {cfg:30s} {a1111}")
    return ExitStatus.OK


# diffusers pipeline class -> registry family (spec §6.2), for folders added without --like
FAMILY_OF_PIPELINE = {
    "StableDiffusionPipeline": "sd1",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl-refiner",
    "StableDiffusion3Pipeline": "sd3",
    "FluxPipeline": "flux",
    "PixArtAlphaPipeline": "pixart",
    "PixArtSigmaPipeline": "pixart",
}
MAX_CONFIG_BYTES = 1 << 20  # a diffusers config is a few KB


def _read_config(path: Path) -> dict:
    """A folder's JSON config, or {} when it is absent or unreadable (then nothing is inferred from it)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def infer_from_folder(folder: Path, reg) -> tuple[dict, list[str]]:
    """What a diffusers folder's own configs say about its registry entry: family, size,
    scheduler ({key: value}), and one line per inference for the user to check."""
    found: dict = {}
    said: list[str] = []
    index = _read_config(folder / "model_index.json")
    cls = index.get("_class_name")
    if isinstance(cls, str) and cls in FAMILY_OF_PIPELINE:
        family = FAMILY_OF_PIPELINE[cls]
        if family == "sd1" and _read_config(folder / "text_encoder" / "config.json").get("hidden_size") == 1024:
            family = "sd2"  # SD 2.x: OpenCLIP ViT-H (1024 wide) under the same pipeline class
        found["family"] = family
        said.append(f"family {family} (model_index.json: {cls})")
    vae = _read_config(folder / "vae" / "config.json")
    channels = vae.get("block_out_channels")
    factor = 2 ** (len(channels) - 1) if isinstance(channels, list) and channels else 8
    for sub in ("unet", "transformer"):
        sample = _read_config(folder / sub / "config.json").get("sample_size")
        if isinstance(sample, int) and not isinstance(sample, bool) and sample > 0:
            found["width"] = found["height"] = sample * factor
            said.append(f"size {sample * factor}x{sample * factor} ({sub} sample_size {sample} x VAE factor {factor})")
            break
    sched_cfg = _read_config(folder / "scheduler" / "scheduler_config.json")
    sched_cls = sched_cfg.get("_class_name")
    if isinstance(sched_cls, str):
        # the most specific table entry of that class whose overrides the config has
        fits = [e for e in reg.schedulers.values()
                if e.diffusers_class == sched_cls and all(sched_cfg.get(k) == v for k, v in e.config.items())]
        if fits:
            best = max(fits, key=lambda e: (len(e.config), -e.id))
            found["scheduler"] = best.name
            said.append(f"scheduler {best.name} (scheduler_config.json: {sched_cls})")
    return found, said


def weights_fingerprints(folder: Path) -> tuple[list[dict], int]:
    """sha256 of every weights file of the folder (what `registry verify` compares and the
    model's identity fingerprint, spec §6.4, is taken from), and their total size."""
    fps, total = [], 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES):
            total += path.stat().st_size
            fps.append({"kind": "sha256", "file": path.relative_to(folder).as_posix(), "value": sha256_file(path),
                        "verified": True, "source": "computed by aigif registry add"})
    return fps, total


def _add(reg, args) -> int:
    if reg.find_model(args.name):
        raise RegistryError(f"'{args.name}' is already registered as '{reg.find_model(args.name).name}' (ID {reg.find_model(args.name).id})")
    if not NAME_RE.match(args.name) or len(args.name) > MAX_REGISTRY_NAME_LEN:
        raise RegistryError(f"'{args.name[:80]}' is not a valid entry name ({NAME_RE.pattern}, at most {MAX_REGISTRY_NAME_LEN} characters)")
    mid = args.id if args.id is not None else max([PRIVATE_IDS.start - 1, *[i for i in reg.models if i in PRIVATE_IDS]]) + 1
    like = reg.model(args.like) if args.like else None
    pipeline_class = args.pipeline_class
    inferred: dict = {}
    said: list[str] = []
    fingerprints: list[dict] = []
    if args.path:
        folder = Path(args.path).expanduser().resolve()
        if not folder.is_dir():
            raise FileAccessError(f"--path {args.path}: no such folder")
        index = folder / "model_index.json"
        if not index.is_file():
            raise RegistryError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
        if pipeline_class is None:
            try:
                pipeline_class = json.loads(index.read_text(encoding="utf-8"))["_class_name"]
            except (ValueError, KeyError, TypeError, OSError, RecursionError):
                raise RegistryError(f"{index} is not a diffusers model_index.json with a _class_name") from None
            if not isinstance(pipeline_class, str):
                raise RegistryError(f"{index}: _class_name must be a string")
        pipeline = {"class": pipeline_class, "source": "local", "path": str(folder)}
        if like is None:
            inferred, said = infer_from_folder(folder, reg)
        fingerprints, weights_bytes = weights_fingerprints(folder)
    else:
        pipeline = {"class": pipeline_class or (like.pipeline["class"] if like else "DiffusionPipeline"), "source": "hub", "repo": args.repo, "revision": args.revision, "revision_verified": False}
    if like:
        pipeline["schedulers"] = list(like.pipeline.get("schedulers", []))
    base = like.defaults if like else None
    generic_used: list[str] = []

    def pick(key, value, inherited, generic):
        if value is not None:
            return value
        if base:
            return inherited
        if key in inferred:
            return inferred[key]
        generic_used.append(f"{key} {generic}")
        return generic

    g = GENERIC_DEFAULTS  # spec §5.3, for an entry that inherits from no other
    defaults = {
        "steps": pick("steps", args.steps, base and base.steps, g["steps"]),
        "guidance": pick("guidance", args.guidance, base and str(base.guidance), str(g["guidance"])),
        "width": pick("width", args.width, base and base.width, g["width"]),
        "height": pick("height", args.height, base and base.height, g["height"]),
        "scheduler": pick("scheduler", args.scheduler, base and _sched_name(base.scheduler), "pndm"),
        "negative_prompt": base.negative_prompt if base else "",
    }
    sched = reg.find_scheduler(defaults["scheduler"])
    if sched is None:
        near = reg.suggest_scheduler(str(defaults["scheduler"]))
        raise RegistryError(f"unknown scheduler '{defaults['scheduler']}'" + (f"; did you mean '{near}'?" if near else ""))
    defaults["scheduler"] = sched.name
    entry = {
        "id": mid,
        "name": args.name,
        "aliases": args.alias,
        "family": args.family or (like.family if like else inferred.get("family", "other")),
        "status": "private",
        "license": "",
        "description": f"user entry for {args.path or args.repo}",
        "defaults": defaults,
        "pipeline": pipeline,
    }
    if fingerprints:
        entry["fingerprints"] = fingerprints
    # validate against the same schema and conflict rules as every other entry
    validated = validate_model(entry, args.name, {s.name: s for s in reg.schedulers.values()}, "user")
    reg.add_model(validated)
    target = user_dir() / "models" / f"{mid}-{args.name}.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, dump_model_toml(entry).encode("utf-8"))
    reset_registry()
    print(f"added '{args.name}' as private ID {mid} ({target})")
    for line in said:
        print(f"  inferred   {line}")
    if generic_used:
        print(f"  generic    {', '.join(generic_used)} (not in the folder's configs; --steps, --guidance, ... set them)")
    if args.path:
        print(f"  hashed     {len(fingerprints)} weight file(s), {weights_bytes / 1e6:.1f} MB: `aigif registry verify {args.name}` checks them")
    return ExitStatus.OK


def _remove(reg, name: str) -> int:
    e = reg.model(name)
    if e.origin != "user" or e.path is None:
        raise RegistryError(f"'{e.name}' is a {e.origin} entry; only user entries can be removed")
    e.path.unlink()
    reset_registry()
    print(f"removed '{e.name}' (ID {e.id}); files that use ID {e.id} will no longer resolve")
    return ExitStatus.OK


def _verify(e, allow_download: bool) -> int:
    require("generate")
    # lazy: the weights module belongs to the [generate] extra, checked just above
    from ..diffusion.weights import check_fingerprints, hash_local_weights

    hashes = hash_local_weights(e, allow_download=allow_download)
    checks = check_fingerprints(e, hashes)
    if not checks:
        # exit 0 would tell a script the weights were checked
        raise RegistryError(f"{e.name}: the entry records no file fingerprints, so nothing was verified"
                            + (f" (`aigif registry remove {e.name}` and `registry add --path` again records them)" if e.origin == "user" else ""))
    bad = 0
    for c in checks:
        print(f"  {c.status:8s} {c.file}  expected {c.expected[:16]}…  actual {(c.actual or '-')[:16]}")
        bad += c.status == "MISMATCH"
    missing = sum(c.status == "missing" for c in checks)
    print(f"{e.name}: {len(checks) - bad - missing} ok, {bad} mismatched, {missing} not available locally")
    if bad:
        raise RegistryError(f"{e.name}: {bad} local file(s) do not match the registry fingerprints")
    if missing == len(checks):
        # nothing was compared: "ok" would claim a check that did not happen
        raise ModelUnavailable(f"{e.name}: none of its {len(checks)} fingerprinted file(s) is available locally, so nothing was verified")
    return ExitStatus.OK
