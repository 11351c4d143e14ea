"""`aigif export`: print a .aigif file's syntax as an A1111 infotext, a ComfyUI API
graph or the JSON form, or embed the infotext into a copy of a PNG."""

from __future__ import annotations

import json
import sys

from .. import exporters
from ..errors import ExitStatus, InvalidSyntax, NoGenerationMetadata
from ..format import read


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a .aigif as A1111 infotext, ComfyUI graph or JSON", description=__doc__)
    p.add_argument("file", metavar="FILE.aigif")
    p.add_argument("--format", choices=("a1111", "comfyui", "json"), default="a1111")
    p.add_argument("--embed", metavar="IMAGE.png", help="write the A1111 infotext into a copy of this PNG")
    p.add_argument("-o", "--output", help="output file for --embed")
    p.add_argument("--lenient", action="store_true", help="comfyui: export even if critical extensions cannot be applied")
    p.set_defaults(run=run)


def run(args) -> int:
    syntax = read(args.file)
    if not syntax.has_syntax:
        raise NoGenerationMetadata(f"{args.file} holds only pixels: there is no generation syntax to export")
    if args.embed or args.format == "a1111":
        missing = exporters.a1111_unexpressed(syntax)
        if missing:
            print(f"aigif: warning: the A1111 infotext cannot express: {', '.join(missing)}", file=sys.stderr)
    if args.embed:
        if not args.output:
            raise InvalidSyntax("--embed needs -o OUT.png")
        exporters.embed_a1111(syntax, args.embed, args.output)
        return ExitStatus.OK
    if args.format == "a1111":
        print(exporters.to_a1111(syntax))
    elif args.format == "comfyui":
        print(json.dumps(exporters.to_comfyui(syntax, strict=not args.lenient), ensure_ascii=False, indent=2))
    else:
        print(json.dumps(exporters.to_json(syntax), ensure_ascii=False, indent=2))
    return ExitStatus.OK
