"""The manifest hash of a revision: order-free, and changed by any change to any file."""

from __future__ import annotations

import hashlib
import re
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from cuspid.cases.manifest import MANIFEST_VERSION, manifest_sha256

A = "a" * 64
B = "b" * 64
C = "0123456789abcdef" * 4

digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
sizes = st.integers(min_value=0, max_value=2**40)
files_ = st.lists(st.tuples(digests, sizes), min_size=1, max_size=8)


def test_the_manifest_is_a_sha256_hex_digest() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", manifest_sha256([(A, 10)]))


def test_the_manifest_is_the_hash_of_the_versioned_sorted_lines() -> None:
    # Pinned: an approval (issue 8) signs this value, so its encoding must never drift.
    expected = hashlib.sha256(f"{MANIFEST_VERSION}\n{A} 7\n{B} 12\n".encode("ascii")).hexdigest()
    assert manifest_sha256([(B, 12), (A, 7)]) == expected
    assert MANIFEST_VERSION == "cuspid-revision-manifest-v1"


def test_an_empty_manifest_is_still_defined() -> None:
    empty = hashlib.sha256(f"{MANIFEST_VERSION}\n".encode("ascii")).hexdigest()
    assert manifest_sha256([]) == empty
    assert manifest_sha256([(A, 0)]) != empty


def test_upper_and_lower_case_digests_are_the_same_file() -> None:
    assert manifest_sha256([(A.upper(), 5), (C.upper(), 9)]) == manifest_sha256([(A, 5), (C, 9)])


def test_a_repeated_file_counts_twice() -> None:
    assert manifest_sha256([(A, 5), (A, 5)]) != manifest_sha256([(A, 5)])


def test_it_reads_any_iterable_once() -> None:
    assert manifest_sha256(iter([(A, 1), (B, 2)])) == manifest_sha256([(B, 2), (A, 1)])


@given(files_, st.randoms(use_true_random=False))
def test_the_order_of_the_files_does_not_matter(
    files: list[tuple[str, int]], random: Random
) -> None:
    shuffled = list(files)
    random.shuffle(shuffled)
    assert manifest_sha256(shuffled) == manifest_sha256(files)
    assert manifest_sha256(reversed(files)) == manifest_sha256(files)


@given(files_, st.data())
def test_changing_any_digest_changes_the_manifest(
    files: list[tuple[str, int]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(files) - 1))
    digest, size = files[index]
    other = data.draw(digests.filter(lambda new: new != digest))
    changed = [*files[:index], (other, size), *files[index + 1 :]]
    assert manifest_sha256(changed) != manifest_sha256(files)


@given(files_, st.data())
def test_changing_any_size_changes_the_manifest(
    files: list[tuple[str, int]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(files) - 1))
    digest, size = files[index]
    other = data.draw(sizes.filter(lambda new: new != size))
    changed = [*files[:index], (digest, other), *files[index + 1 :]]
    assert manifest_sha256(changed) != manifest_sha256(files)


@given(files_, st.tuples(digests, sizes))
def test_adding_or_removing_a_file_changes_the_manifest(
    files: list[tuple[str, int]], extra: tuple[str, int]
) -> None:
    assert manifest_sha256([*files, extra]) != manifest_sha256(files)
    assert manifest_sha256(files[1:]) != manifest_sha256(files)


@given(files_, files_)
def test_different_multisets_of_files_have_different_manifests(
    first: list[tuple[str, int]], second: list[tuple[str, int]]
) -> None:
    same = sorted(first) == sorted(second)
    assert (manifest_sha256(first) == manifest_sha256(second)) == same
