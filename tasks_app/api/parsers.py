"""The API's JSON bodies: DRF's parser, refusing text that no database can store."""

import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# After decoding, a surrogate code point is always a lone one ("\ud800"): a pair is one character.
SURROGATE = re.compile("[\ud800-\udfff]")


def holds_a_surrogate(value) -> bool:
    if isinstance(value, str):
        return SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(holds_a_surrogate(key) or holds_a_surrogate(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_a_surrogate(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    """A lone surrogate anywhere in the body is a 400: neither SQLite nor PostgreSQL can store it, and an
    error message that quotes it cannot even be written out as UTF-8 (a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if holds_a_surrogate(data):
            raise ParseError("JSON parse error - a lone surrogate (such as \\ud800) is not text.")
        return data
