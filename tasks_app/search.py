"""What the web UI and the API share about searching tasks: the list's `?q=` and the API's `?search=`
follow one rule, checked here."""

import re

from django.core.exceptions import ValidationError

SEARCH_MAX_LENGTH = 200  # characters
# Each word is one more condition every task is matched against: 1,500 of them made a query
# SQLite refuses to run ("Expression tree is too large"), and a slow one long before.
SEARCH_MAX_WORDS = 20
# What separates words: spaces, and commas (the API's search splits on them too).
_SEPARATORS = re.compile(r"[\s,]+")


def validate_search(text: str) -> None:
    """Raise ValidationError (with each reason) when a search is longer than SEARCH_MAX_LENGTH
    characters or SEARCH_MAX_WORDS words."""
    problems = []
    if len(text) > SEARCH_MAX_LENGTH:
        problems.append(f"A search takes at most {SEARCH_MAX_LENGTH} characters; this one has {len(text):,}.")
    words = len([word for word in _SEPARATORS.split(text) if word])
    if words > SEARCH_MAX_WORDS:
        problems.append(f"A search takes at most {SEARCH_MAX_WORDS} words; this one has {words:,}.")
    if problems:
        raise ValidationError(problems)
