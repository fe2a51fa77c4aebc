"""FDI tooth numbers (ISO 3950): which are teeth, and how a list of them is normalised."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cuspid.cases.teeth import FDI_TEETH, PERMANENT, PRIMARY, InvalidTooth, parse_teeth

PERMANENT_TEETH = [q * 10 + t for q in (1, 2, 3, 4) for t in range(1, 9)]
PRIMARY_TEETH = [q * 10 + t for q in (5, 6, 7, 8) for t in range(1, 6)]
NOT_TEETH: list[object] = [
    0, 9, 10, 19, 20, 29, 30, 39, 40, 49, 50, 56, 59, 60, 66, 76, 86, 89, 90, 91, 99, 100, 111,
    -11, "1a", "", " ", "a1", "11.0", 11.0, "+11", "-11", "1 1", "0x0b", None, True,
    # Characters str.isdigit() accepts but int() does not read.
    "²", "1²", "①",
    # More digits than int() converts from text (sys.get_int_max_str_digits(), 4300).
    "1" * 5000,
]  # fmt: skip


def test_the_sets_hold_32_permanent_and_20_primary_teeth() -> None:
    assert sorted(PERMANENT) == PERMANENT_TEETH
    assert sorted(PRIMARY) == PRIMARY_TEETH
    assert FDI_TEETH == PERMANENT | PRIMARY
    assert len(FDI_TEETH) == 52


@pytest.mark.parametrize("tooth", PERMANENT_TEETH + PRIMARY_TEETH)
def test_every_fdi_tooth_is_valid_as_int_and_as_text(tooth: int) -> None:
    assert parse_teeth([tooth]) == (tooth,)
    assert parse_teeth([str(tooth)]) == (tooth,)
    assert parse_teeth([f"  {tooth}\t"]) == (tooth,)


@pytest.mark.parametrize("value", NOT_TEETH, ids=[repr(value)[:12] for value in NOT_TEETH])
def test_anything_else_is_not_a_tooth(value: object) -> None:
    with pytest.raises(InvalidTooth) as refused:
        parse_teeth([11, value, 21])
    assert "FDI" in str(refused.value)


def test_invalid_tooth_is_a_value_error() -> None:
    assert issubclass(InvalidTooth, ValueError)


def test_the_message_quotes_at_most_eight_characters_of_the_value() -> None:
    with pytest.raises(InvalidTooth) as refused:
        parse_teeth(["Ada Lovelace, born 1815"])
    assert "Lovelace" not in str(refused.value)


def test_teeth_are_deduplicated_and_sorted() -> None:
    assert parse_teeth([46, "36", 11, " 46", 36, 85]) == (11, 36, 46, 85)


def test_no_teeth_is_an_empty_tuple() -> None:
    assert parse_teeth([]) == ()


@given(st.lists(st.sampled_from(sorted(FDI_TEETH)), max_size=60))
def test_any_list_of_teeth_normalises_to_its_sorted_set(teeth: list[int]) -> None:
    parsed = parse_teeth(teeth)
    assert parsed == tuple(sorted(set(teeth)))
    assert parse_teeth(parsed) == parsed
    assert parse_teeth([str(tooth) for tooth in reversed(teeth)]) == parsed


@given(st.integers().filter(lambda number: number not in FDI_TEETH))
def test_no_other_integer_is_a_tooth(number: int) -> None:
    with pytest.raises(InvalidTooth):
        parse_teeth([number])


def _reads_as_tooth(text: str) -> bool:
    stripped = text.strip()
    try:
        return stripped.isdigit() and int(stripped) in FDI_TEETH
    except ValueError:
        return False


# Any text, and text made of what Unicode calls digits and numbers (where str.isdigit() and
# int() disagree).
_numberish = st.text(st.characters(categories=("Nd", "No", "Zs")), max_size=4)


@given(st.one_of(st.text(max_size=12), _numberish).filter(lambda text: not _reads_as_tooth(text)))
def test_no_other_text_is_a_tooth(text: str) -> None:
    # Whatever the text, the answer is InvalidTooth (the services turn it into a 422), never
    # another exception.
    with pytest.raises(InvalidTooth):
        parse_teeth([text])
