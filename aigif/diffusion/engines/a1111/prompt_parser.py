"""A1111 v1.10.x prompt syntax, written here in pure Python (no torch, no lark) and
checked against A1111's own modules/prompt_parser.py (tests/goldens/a1111/).

Three things A1111 does with a prompt:

- `get_learned_conditioning_prompt_schedules`: prompt editing `[from:to:when]`,
  `[to:when]`, `[from::when]` and alternation `[a|b|c]` become a list of
  [last step, text] pairs.  `when` is a step count when it has no ".", a fraction of
  the steps when it has one; with hires steps (and not the old scheduling) integers
  count from the start of the first pass and fractions from 1.0 = the end of it.
- `get_multicond_prompt_list`: `AND` splits a prompt into sub-prompts, each with an
  optional trailing `:weight`.
- `parse_prompt_attention`: `(x)` ×1.1, `[x]` ÷1.1, `(x:w)` ×w, `\\(` etc. literal,
  `BREAK` a chunk break (weight -1).  Runs of equal weight are merged.

Scheduling grammar, as A1111's lark grammar accepts it.  A *prompt* is a sequence of
plain text (anything but `\\ [ ] ( ) : |`, or a backslash and any character but a
newline), whitespace, and bracket constructs: `(p)`, `(p:p)`, `[p]`, `[p:N]`,
`[p:p:N]` (N a signed decimal/exponent number, optionally padded with whitespace) and
`[p|p|...]` (options may be empty).  Outside any construct, `[ ] ( ) :` may also stand
for themselves; `|` may not, and neither may a backslash before a newline or at the
end.  A prompt with no parse at all is used literally, at every step.

Where A1111 is not deterministic.  When the whole text is one prompt (every bracket of
it balanced into constructs) the parse is unique and this module gives A1111's result.
When it is not (a stray `]`, `)`, `:` or unmatched `[`/`(` at the top level), lark's
Earley parser has several parses and picks one by the iteration order of a Python set
of forest nodes, which depends on string hashing: the same A1111 gives different
schedules for such a prompt from one start to the next (PYTHONHASHSEED).  Here the
choice is fixed — every construct that can be honoured is — and `is_deterministic_in_a1111`
tells a caller that a prompt is of that kind, so it can say so.

Bounds: work is linear in the prompt for scheduling (each position is parsed once),
O(length × nesting) for attention, and nesting deeper than limits.MAX_PROMPT_NESTING brackets is
refused with PromptTooDeep rather than risking the interpreter's recursion limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence, Union

from ....errors import InvalidSyntax, LimitExceeded
from .... import limits



class PromptTooDeep(LimitExceeded):
    """A prompt nests brackets deeper than the parser allows."""


class PromptNotComputable(InvalidSyntax):
    """A prompt that A1111 itself fails on (it raises mid-generation), so no image can
    have been made from it: an infinite schedule step, or a weight that is no number."""


# -- scheduling: a small recursive-descent parser, memoised per position ----------------
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")  # `.` stops at a newline, as in the grammar
_SPACE = re.compile(r"\s+")
# lark's SIGNED_NUMBER, tried the way a regex alternation is: exponent-int, decimal
# (with optional exponent), then a bare integer.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+[eE][+-]?[0-9]+|(?:[0-9]+\.(?:[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+)")


@dataclass
class _Scheduled:
    before: list | None  # None: `[to:when]` has no "from" part
    after: list
    number: str
    when: int = 0


@dataclass
class _Alternate:
    options: list


_Node = Union[str, _Scheduled, _Alternate]
_FAIL = object()


class _ScheduleParser:
    def __init__(self, text: str):
        self.text = text
        self.prompts: dict[int, tuple[list, int]] = {}
        self.constructs: dict[int, object] = {}
        self.depth = 0

    def _enter(self):
        self.depth += 1
        if self.depth > limits.MAX_PROMPT_NESTING:
            raise PromptTooDeep(f"the prompt nests brackets more than {limits.MAX_PROMPT_NESTING} deep")

    def prompt(self, start: int) -> tuple[list, int]:
        """The longest prompt from `start`: (nodes, end)."""
        cached = self.prompts.get(start)
        if cached is not None:
            return cached
        text, pos, nodes = self.text, start, []
        while pos < len(text):
            char = text[pos]
            if char in "([":
                found = self.construct(pos)
                if found is _FAIL:
                    break
                node, pos = found
                nodes.extend(node)
                continue
            match = _PLAIN.match(text, pos)
            if match is None:  # one of ] ) : |, or an unusable backslash
                break
            nodes.append(match.group())
            pos = match.end()
        self.prompts[start] = (nodes, pos)
        return nodes, pos

    def _char(self, pos: int) -> str:
        return self.text[pos] if pos < len(self.text) else ""

    def _number_then_close(self, pos: int):
        """`[WHITESPACE] NUMBER [WHITESPACE] "]"` from pos: (number, end) or None."""
        space = _SPACE.match(self.text, pos)
        if space:
            pos = space.end()
        number = _NUMBER.match(self.text, pos)
        if number is None:
            return None
        pos = number.end()
        space = _SPACE.match(self.text, pos)
        if space:
            pos = space.end()
        if self._char(pos) != "]":
            return None
        return number.group(), pos + 1

    def construct(self, start: int):
        cached = self.constructs.get(start, None)
        if cached is not None:
            return cached
        self._enter()
        try:
            found = self._construct(start)
        finally:
            self.depth -= 1
        self.constructs[start] = found
        return found

    def _construct(self, start: int):
        opening = self.text[start]
        first, pos = self.prompt(start + 1)
        char = self._char(pos)
        if opening == "(":
            if char == ")":
                return ["("] + first + [")"], pos + 1
            if char == ":":
                second, end = self.prompt(pos + 1)
                if self._char(end) == ")":
                    return ["("] + first + [":"] + second + [")"], end + 1
            return _FAIL
        if char == "]":
            return ["["] + first + ["]"], pos + 1
        if char == "|":
            options = [first]
            while self._char(pos) == "|":
                option, pos = self.prompt(pos + 1)
                options.append(option)
            if self._char(pos) != "]":
                return _FAIL
            return [_Alternate(options)], pos + 1
        if char == ":":
            closed = self._number_then_close(pos + 1)
            if closed is not None:
                return [_Scheduled(None, first, closed[0])], closed[1]
            second, end = self.prompt(pos + 1)
            if self._char(end) == ":":
                closed = self._number_then_close(end + 1)
                if closed is not None:
                    return [_Scheduled(first, second, closed[0])], closed[1]
        return _FAIL

    def parse(self):
        """(nodes, is_one_prompt), or None when the text has no parse at all."""
        nodes, pos = self.prompt(0)
        whole = pos == len(self.text)
        nodes = list(nodes)
        while pos < len(self.text):
            char = self.text[pos]
            if char not in "[]():":
                return None
            nodes.append(char)  # a bracket or colon standing for itself
            more, pos = self.prompt(pos + 1)
            nodes.extend(more)
        return nodes, whole


def _walk(nodes):
    """Every schedule/alternation node, nested ones included (iteratively)."""
    stack = [nodes]
    while stack:
        for node in stack.pop():
            if isinstance(node, _Scheduled):
                yield node
                if node.before is not None:
                    stack.append(node.before)
                stack.append(node.after)
            elif isinstance(node, _Alternate):
                yield node
                stack.extend(node.options)


def _render(nodes, step: int) -> str:
    parts: list[str] = []
    stack = [iter(nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, str):
            parts.append(node)
        elif isinstance(node, _Scheduled):
            chosen = (node.before or []) if step <= node.when else node.after
            stack.append(iter(chosen))
        else:
            stack.append(iter(node.options[(step - 1) % len(node.options)]))
    return "".join(parts)


def _when(number: str, steps: int, int_offset: int, float_offset: float, use_old_scheduling: bool) -> int:
    value = float(number)
    if use_old_scheduling:
        value = value * steps if value < 1 else value
    elif "." in number:
        value = (value - float_offset) * steps
    else:
        value = value - int_offset
    if value != value or value in (float("inf"), float("-inf")):
        raise PromptNotComputable(f"prompt-editing step {number!r} is not a finite number of steps")
    return min(steps, int(value))


def _schedule(prompt: str, steps: int, int_offset: int, float_offset: float, use_old_scheduling: bool):
    parsed = _ScheduleParser(prompt).parse()
    if parsed is None:
        return [[steps, prompt]]
    nodes, _ = parsed
    boundaries = {steps}
    for node in _walk(nodes):
        if isinstance(node, _Scheduled):
            node.when = _when(node.number, steps, int_offset, float_offset, use_old_scheduling)
            if node.when >= 1:
                boundaries.add(node.when)
        else:
            boundaries.update(range(1, steps + 1))
    return [[step, _render(nodes, step)] for step in sorted(boundaries)]


def get_learned_conditioning_prompt_schedules(
    prompts: Sequence[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[list]]:
    """For each prompt, [[last step, text], ...] as A1111 v1.10.x computes it."""
    if hires_steps is None or use_old_scheduling:
        int_offset, float_offset, steps = 0, 0.0, base_steps
    else:
        int_offset, float_offset, steps = base_steps, 1.0, hires_steps
    cache: dict[str, list] = {}
    result = []
    for prompt in prompts:
        if prompt not in cache:
            cache[prompt] = _schedule(prompt, steps, int_offset, float_offset, use_old_scheduling)
        # each caller gets its own lists, as A1111's per-prompt dict gives the same
        # object to duplicates; copying keeps callers from aliasing each other
        result.append([list(pair) for pair in cache[prompt]])
    return result


def is_deterministic_in_a1111(prompt: str) -> bool:
    """False when A1111's own schedule for `prompt` depends on its process's string-hash
    seed (see the module docstring); True when A1111 always gives what this module does."""
    parsed = _ScheduleParser(prompt).parse()
    return parsed is None or parsed[1] or not any(True for _ in _walk(parsed[0]))


# -- AND ----------------------------------------------------------------------------
_AND = re.compile(r"(?<!\w)AND(?!\w)")
_SIGNED_DECIMAL = re.compile(r"[-+]?(?:\d+\.?|\d*\.\d+)\Z")


def _split_weight(subprompt: str) -> tuple[str, float]:
    """Text and weight of `text :weight`; the weight suffix is optional (1.0)."""
    colon = subprompt.rfind(":")
    if colon >= 0:
        number = subprompt[colon + 1 :].strip()
        if _SIGNED_DECIMAL.match(number):
            return subprompt[:colon].rstrip(), float(number)
    return subprompt.rstrip(), 1.0


def get_multicond_prompt_list(prompts: Sequence[str]):
    """(per prompt [(index, weight), ...], the distinct sub-prompt texts, text -> index)."""
    indexes_per_prompt = []
    flat: list[str] = []
    index_of: dict[str, int] = {}
    for prompt in prompts:
        indexes = []
        for subprompt in _AND.split(prompt):
            text, weight = _split_weight(subprompt)
            if text not in index_of:
                index_of[text] = len(flat)
                flat.append(text)
            indexes.append((index_of[text], weight))
        indexes_per_prompt.append(indexes)
    return indexes_per_prompt, flat, index_of


# -- attention ----------------------------------------------------------------------
_ROUND = 1.1
_SQUARE = 1 / 1.1
_WEIGHT_CLOSE = re.compile(r":\s*([+-]?[.\d]+)\s*\)")
_TEXT_RUN = re.compile(r"[^\\()\[\]:]+")
_BREAK = re.compile(r"\s*(?<!\w)BREAK(?!\w)\s*")
_ESCAPABLE = "()[]\\"


def parse_prompt_attention(text: str) -> list[list]:
    """[[text, weight], ...] as A1111 v1.10.x's emphasis parser gives them; a BREAK is
    ["BREAK", -1]."""
    pieces: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def scale_from(start: int, factor: float):
        for piece in pieces[start:]:
            piece[1] *= factor

    def push_open(stack: list[int]):
        if len(round_open) + len(square_open) >= limits.MAX_PROMPT_NESTING:
            raise PromptTooDeep(f"the prompt opens more than {limits.MAX_PROMPT_NESTING} emphasis brackets at once")
        stack.append(len(pieces))

    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char == "\\":
            following = text[pos + 1 : pos + 2]
            if following and following in _ESCAPABLE:
                pieces.append([following, 1.0])
                pos += 2
            else:  # a lone backslash stands for nothing
                pieces.append(["", 1.0])
                pos += 1
            continue
        if char == "(":
            push_open(round_open)
            pos += 1
            continue
        if char == "[":
            push_open(square_open)
            pos += 1
            continue
        if char == ":":
            weighted = _WEIGHT_CLOSE.match(text, pos)
            if weighted is not None and round_open:
                try:
                    factor = float(weighted.group(1))
                except ValueError:
                    raise PromptNotComputable(
                        f"emphasis weight {weighted.group(1)!r} is not a number (A1111 fails on it too)"
                    ) from None
                scale_from(round_open.pop(), factor)
                pos = weighted.end()
                continue
            if weighted is not None:
                token, pos = weighted.group(), weighted.end()
            else:
                token, pos = ":", pos + 1
        elif char == ")" and round_open:
            scale_from(round_open.pop(), _ROUND)
            pos += 1
            continue
        elif char == "]" and square_open:
            scale_from(square_open.pop(), _SQUARE)
            pos += 1
            continue
        elif char in ")]":
            token, pos = char, pos + 1
        else:
            run = _TEXT_RUN.match(text, pos)
            token, pos = run.group(), run.end()
        for index, part in enumerate(_BREAK.split(token)):
            if index:
                pieces.append(["BREAK", -1])
            pieces.append([part, 1.0])

    for start in round_open:
        scale_from(start, _ROUND)
    for start in square_open:
        scale_from(start, _SQUARE)
    if not pieces:
        return [["", 1.0]]

    merged = [pieces[0]]
    for piece in pieces[1:]:
        if piece[1] == merged[-1][1]:
            merged[-1][0] += piece[0]
        else:
            merged.append(piece)
    return merged
