"""What a user waiting on one generation sees on stderr: "loading model…", then step n/N.

stdout stays what scripts read (one result line per file); this writes to stderr only,
and nothing at all with --quiet.  On a terminal the step count rewrites one line; in a
log it prints at most about ten lines per image."""

from __future__ import annotations

import sys

LOG_LINES_PER_IMAGE = 10


class StepReporter:
    """A `progress(step, total)` callback for aigif.regenerate, plus the "loading" line.

    bar: a tqdm bar of a batch; its postfix shows the file's state instead of lines, so
    the bar moves (and says why it waits) while the first model loads."""

    def __init__(self, label: str = "", *, quiet: bool = False, stream=None, bar=None):
        self.label = f"{label}: " if label else ""
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.bar = bar
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_logged = 0
        self._open_line = False

    def _say(self, text: str, *, rewrite: bool = False) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.label}{text}", refresh=True)
            return
        if rewrite and self.tty:
            self.stream.write(f"\raigif: {self.label}{text}\x1b[K")
            self._open_line = True
        else:
            self.end_line()
            self.stream.write(f"aigif: {self.label}{text}\n")
        self.stream.flush()

    def loading(self) -> None:
        self._say("loading model…")

    def __call__(self, step: int, total: int | None) -> None:
        total = total or step
        if self.tty or self.bar is not None:
            self._say(f"step {step}/{total}", rewrite=True)
            return
        every = max(1, -(-total // LOG_LINES_PER_IMAGE))
        if step == total or step - self._last_logged >= every:
            self._last_logged = step
            self._say(f"step {step}/{total}")

    def end_line(self) -> None:
        if self._open_line and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self._open_line = False
