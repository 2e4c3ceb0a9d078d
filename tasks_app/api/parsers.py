"""The API's JSON bodies: DRF's parser, refusing what no view needs and what would break later."""

import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# After decoding, a surrogate code point is always a lone one ("\ud800"): a pair is one character.
SURROGATE = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 32  # no body the API takes nests deeper than 3


def problem_in(data) -> str | None:
    """Why `data` is refused, or None: walked without recursion, however deep it nests."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if SURROGATE.search(value):
                return "a lone surrogate (such as \\ud800) is not text."
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels."
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return None


class JSONParser(parsers.JSONParser):
    """A 400 for a lone surrogate anywhere in the body (neither SQLite nor PostgreSQL can store it,
    and an error message that quotes it cannot even be written out as UTF-8) and for nesting past
    MAX_DEPTH (a recursive walk of it, or the decoder itself, would fail with a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.") from None
        problem = problem_in(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data
