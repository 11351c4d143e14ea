"""`aigif info`: print a file's syntax and the byte cost of each segment."""

from __future__ import annotations

import json

from .. import pixels
from ..errors import AigifError, ExitStatus
from ..extensions import DEFAULT_ENGINE, engine_of
from ..fileio import read_bytes
from ..format import decode, inspect
from ..jsonform import DATA_KEYS, syntax_to_dict


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="show a file's syntax and segment costs", description=__doc__)
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print the exact JSON form (spec §8)")
    p.add_argument("--resolved", action="store_true", help="fill absent fields with the model defaults")
    p.set_defaults(run=run)


def _semantics_line(extensions: dict) -> str:
    """Whose generation semantics the file is in (spec §7.1.1), in one line."""
    value = extensions.get("semantics")
    if not isinstance(value, dict):
        return f"{DEFAULT_ENGINE}   (default)"
    parts = [engine_of(extensions)]
    if "version" in value:
        parts.append(f"version {value['version']}")
    if value.get("options"):
        parts.append("options " + json.dumps(value["options"], ensure_ascii=False))
    return ", ".join(parts)


def _print_groups(syntax) -> None:
    """Bytes per group of a group-mask PIXELS payload (codec 17)."""
    for p in syntax.payloads:
        if p.kind != "pixels" or p.codec_id != 17:
            continue
        try:
            groups = pixels.group_sizes(p.codec_id, p.data)
        except AigifError as e:
            print(f"  {'groups':16s} (cannot read: {e})")
            continue
        total = len(p.data)
        shared = total - sum(g["bytes"] for g in groups)
        print(f"  {'groups':16s} {len(groups)}, shared header+mask {shared} B")
        for g in groups:
            print(f"    group {g['label']:<4d} {g['bytes']:8d} B  ({100 * g['bytes'] / total:.1f} % of the payload, "
                  f"{g['pixels']} px, box {g['box']})")


def _pixels_only_dict(syntax) -> dict:
    """A pixels-only file has no SYNTAX segment: no model, prompt or seed, not even defaults
    (those would describe a generation the file does not hold)."""
    return {k: v for k, v in syntax_to_dict(syntax).items() if k not in DATA_KEYS}


def run(args) -> int:
    data = read_bytes(args.file)
    syntax = decode(data)
    if args.json:
        d = syntax_to_dict(syntax, resolved=args.resolved) if syntax.has_syntax else _pixels_only_dict(syntax)
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return ExitStatus.OK
    costs, overhead = inspect(data)
    print(f"{args.file}: AIGIF {data[2] >> 4}.{(data[2] >> 1) & 7}, {len(data)} bytes")
    if not syntax.has_syntax:
        d = _pixels_only_dict(syntax)
        if any(p.kind == "pixels" and p.codec_id == pixels.OMNI_ID for p in syntax.payloads):
            print(f"  {'syntax':16s} none: an Omni-ICM features file (features for machines, not pixels; `aigif features` decodes them)")
        else:
            print(f"  {'syntax':16s} none: a pixels-only file (nothing to regenerate; `aigif unpack` decodes the pixels)")
    else:
        d = syntax_to_dict(syntax, resolved=False)
        try:
            full = syntax_to_dict(syntax, resolved=True)
        except AigifError:  # unknown model or scheduler: show what the file says
            full = d
        for key in DATA_KEYS:
            if key in full:
                mark = "" if key in d else "   (default)"
                print(f"  {key:16s} {json.dumps(full[key], ensure_ascii=False)}{mark}")
        print(f"  {'semantics':16s} {_semantics_line(syntax.extensions)}")
    for key in ("extensions", "platform", "fidelity", "payloads"):
        if key in d:
            print(f"  {key:16s} {json.dumps(d[key], ensure_ascii=False)}")
    _print_groups(syntax)
    print("segments:")
    for c in costs:
        kind = "critical" if c.critical else "ancillary"
        print(f"  {c.name:24s} {kind:9s} {c.framed_bytes:8d} B  (body {c.body_bytes})")
    print(f"  {'signature+version+END+CRC':24s} {'':9s} {overhead:8d} B")
    return ExitStatus.OK
