"""`aigif verify`: regenerate a file's image and check it against its fidelity hash.
Exit 0 when bit-exact, 11 when it differs or cannot be checked."""

from __future__ import annotations

from ..errors import ExitStatus, VerificationFailed
from ..regenerate import unpack_image
from .engine_folders import add_folder_flags, folder_options


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="regenerate and check the fidelity hash", description=__doc__)
    p.add_argument("files", nargs="+")
    p.add_argument("--allow-download", action="store_true")
    p.add_argument("--trust-inline-model", action="store_true",
                   help="load weights from a local folder or hub repo that the file names inline (not a registry entry); only for files you trust")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    add_folder_flags(p)
    p.set_defaults(run=run)


def run(args) -> int:
    folders = folder_options(args)  # checked before any model loads
    allow = args.allow_download  # AIGIF_ALLOW_DOWNLOAD: read where downloads happen (diffusion.pipelines)
    status = ExitStatus.OK
    for path in args.files:
        result = unpack_image(path, allow_download=allow, trust_inline_model=args.trust_inline_model, device=args.device, threads=args.threads, **folders)
        print(f"{path}: {result.status} ({result.source})")
        if result.status != "bit-exact":
            status = ExitStatus.DIFFERS
    if status and len(args.files) == 1:
        raise VerificationFailed(f"{args.files[0]}: regenerated pixels do not match the fidelity hash" if result.status == "differs" else f"{args.files[0]}: no FIDELITY segment to check against")
    return status
