"""`aigif export`: print a .aigif file's syntax as an A1111 infotext, a ComfyUI API
graph or the JSON form (to -o FILE instead of stdout when given), or embed it into a copy
of an image with --embed: a1111 into PNG, JPEG or WebP (PNG `parameters` chunk, EXIF
UserComment), comfyui into PNG (the `prompt` chunk ComfyUI loads); the AIGIF file
itself goes along unless --no-aigif, so that `aigif import` gets the exact syntax back."""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from pathlib import Path

from .. import exporters, limits
from ..errors import ExitStatus, InvalidSyntax, NoGenerationMetadata, UnsupportedFeature
from ..exporters.embed import embed_metadata, embed_png, image_format
from ..fileio import read_bytes, write_atomic
from ..format import encode, read
from .imageio import format_for


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a .aigif as A1111 infotext, ComfyUI graph or JSON", description=__doc__)
    p.add_argument("file", metavar="FILE.aigif")
    p.add_argument("--format", choices=("a1111", "comfyui", "json"), default="a1111")
    p.add_argument("--embed", metavar="IMAGE",
                   help="write the syntax into a copy of this image (a1111: PNG, JPEG, WebP; comfyui: PNG), to -o")
    p.add_argument("-o", "--output", help="output file: the copy of --embed's image, else the exported text")
    p.add_argument("--no-aigif", action="store_true", help="--embed: leave out the embedded AIGIF file")
    p.add_argument("--lenient", action="store_true", help="comfyui: export even if critical extensions cannot be applied")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.embed and args.format == "json":
        raise InvalidSyntax("--embed writes a1111 or comfyui metadata; no tool reads the JSON form from an image "
                            "(drop --embed to print it, or -o FILE.json to write it)")
    if args.embed and not args.output:
        raise InvalidSyntax("--embed needs -o OUT (an image of the same format as --embed's)")
    if args.no_aigif and not args.embed:
        raise InvalidSyntax("--no-aigif only applies to --embed")
    syntax = read(args.file)
    if not syntax.has_syntax:
        raise NoGenerationMetadata(f"{args.file} holds only pixels: there is no generation syntax to export")
    if args.format == "a1111":
        missing = exporters.a1111_unexpressed(syntax)
        if missing:
            print(f"aigif: warning: the A1111 infotext cannot express: {', '.join(missing)}", file=sys.stderr)
    if args.embed:
        return _embed(args, syntax)
    if args.format == "a1111":
        text = exporters.to_a1111(syntax)
    elif args.format == "comfyui":
        text = json.dumps(exporters.to_comfyui(syntax, strict=not args.lenient), ensure_ascii=False, indent=2)
    else:
        text = json.dumps(exporters.to_json(syntax), ensure_ascii=False, indent=2)
    if args.output:
        write_atomic(args.output, (text + "\n").encode("utf-8"))
        print(f"wrote {args.output} ({args.format})")
    else:
        print(text)
    return ExitStatus.OK


def _embed(args, syntax) -> int:
    data = read_bytes(args.embed, limits.MAX_FILE_BYTES, "image")
    fmt = image_format(data)
    if fmt is None:
        raise UnsupportedFeature(f"--embed {args.embed}: not a PNG, JPEG or WebP file")
    wanted = format_for(args.output)
    if wanted is not None and wanted != fmt:
        raise InvalidSyntax(f"--embed copies a {fmt} file without re-encoding it: -o {args.output} names another format "
                            f"(use {Path(args.output).stem}{'.jpg' if fmt == 'JPEG' else '.' + fmt.lower()})")
    aigif_bytes = None if args.no_aigif else encode(dataclasses.replace(syntax, payloads=[]))
    if args.format == "comfyui":
        if fmt != "PNG":
            raise UnsupportedFeature(f"--format comfyui --embed writes PNG files only (ComfyUI reads its graph from a PNG "
                                     f"`prompt` chunk), not {fmt}; use --format a1111 for JPEG and WebP")
        graph = json.dumps(exporters.to_comfyui(syntax, strict=not args.lenient), ensure_ascii=False)
        texts = {"prompt": graph}
        if aigif_bytes is not None:
            texts["aigif"] = base64.b64encode(aigif_bytes).decode("ascii")
        out = embed_png(data, texts)
    else:
        out = embed_metadata(data, exporters.to_a1111(syntax), aigif_bytes)
    write_atomic(args.output, out)
    print(f"wrote {args.output} ({fmt}, {args.format} metadata{'' if aigif_bytes is None else ' and the AIGIF file'})")
    return ExitStatus.OK
