""" "Did you mean": the closest name by edit distance, a name made of the same words first.

``review_text`` for a record with ``review_id`` and ``text`` suggests ``text``: ``review_text``
and ``review_id`` are fewer edits apart, but ``text`` is one of the words of ``review_text``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def closest(name: str, options: Iterable[str]) -> str | None:
    """The option the user most likely meant by ``name``, or None when none is close."""
    words = _words(name)
    ranked = []
    for option in options:
        related = option.lower() in words or name.lower() in _words(option)
        distance = edit_distance(name.lower(), option.lower())
        if related or distance <= max(1, len(name) // 3):
            ranked.append((not related, distance, option))
    return min(ranked)[2] if ranked else None


def _words(name: str) -> set[str]:
    return {word for word in re.split(r"[_\-.\s]+", name.lower()) if word}


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours (optimal string alignment)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
