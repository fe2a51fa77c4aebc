"""FDI two-digit tooth notation (ISO 3950), pure.

Permanent teeth are quadrants 1-4 with teeth 1-8 (11-48); primary teeth are quadrants 5-8
with teeth 1-5 (51-85). Anything else is not a tooth.
"""

from __future__ import annotations

from collections.abc import Iterable

PERMANENT = frozenset(q * 10 + t for q in range(1, 5) for t in range(1, 9))
PRIMARY = frozenset(q * 10 + t for q in range(5, 9) for t in range(1, 6))
FDI_TEETH = PERMANENT | PRIMARY


class InvalidTooth(ValueError):
    """A value that is not an FDI tooth number."""


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 100:
        return str(value)
    return "?"


def parse_teeth(values: Iterable[object]) -> tuple[int, ...]:
    """The tooth numbers, sorted and without repeats; raises InvalidTooth naming a bad one.

    Accepts ints or digit strings ("11", " 46 ").
    """
    teeth: set[int] = set()
    for value in values:
        text = _as_text(value)
        if not (len(text) == 2 and text.isascii() and text.isdigit()) or int(text) not in FDI_TEETH:
            raise InvalidTooth(
                f"{text[:8]!r} is not an FDI tooth number (11-48 permanent, 51-85 primary)."
            )
        teeth.add(int(text))
    return tuple(sorted(teeth))
