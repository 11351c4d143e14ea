"""Keep diffusers/transformers progress bars and advisory warnings off stderr.

A file converter that prints loading bars and per-call dtype advice for every image is
unusable in batch; the caller's own settings are restored on exit.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def quiet_libraries():
    from diffusers.utils import logging as dlog

    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover - import_stack already required it
        tlog = None
    d_bar, d_level = dlog.is_progress_bar_enabled(), dlog.get_verbosity()
    t_bar, t_level = (tlog.is_progress_bar_enabled(), tlog.get_verbosity()) if tlog else (False, None)
    dlog.disable_progress_bar()
    dlog.set_verbosity_error()
    if tlog:
        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    try:
        yield
    finally:
        dlog.set_verbosity(d_level)
        if d_bar:
            dlog.enable_progress_bar()
        if tlog:
            tlog.set_verbosity(t_level)
            if t_bar:
                tlog.enable_progress_bar()
