"""Pre-tokenisation of prompts into pieces (spec/prompt-coder.md §7, informative).

The split only has to be lossless (the pieces concatenate back to the text); it does
not have to be canonical, because the decoder never re-tokenises.  Leading spaces are
glued to the following word so that "word, word" costs two pieces per word, not four.
Digits are single pieces: weights like 1.25 and sizes like 8 k are then a handful of
cheap, well-predicted symbols instead of thousands of rare numbers in the vocabulary.
"""

from __future__ import annotations

import re

_PIECE = re.compile(
    r"""'(?:s|t|re|ve|m|ll|d)\b"""  # English clitics
    r"""| ?[^\W\d_]+"""  # a word (any script), optionally with its leading space
    r"""| ?\d"""  # one digit
    r"""| ?(?:[^\s\w]|_)+"""  # a run of punctuation / symbols
    r"""|\s+(?!\S)|\s+"""  # whitespace runs (GPT-2 style: keep the last space for the next word)
    r"""|.""",  # anything else, so the split covers every string
    re.DOTALL,
)


def pieces(text: str) -> list[str]:
    return _PIECE.findall(text)
