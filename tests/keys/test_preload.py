"""Opening a page of sealed rows costs one key query, whatever the number of owners."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cuspid.core.actors import SystemActor
from cuspid.keys.crypto import dek_cache, dek_preload
from cuspid.keys.fields import preload_keys
from cuspid.keys.models import OwnerKind
from cuspid.keys.services import owner_keys_shred
from cuspid.patients.models import Patient
from tests.factories import make_organization

pytestmark = pytest.mark.django_db


def _patients(count: int) -> list[Patient]:
    clinic = make_organization()
    made = [
        Patient.objects.create(
            organization=clinic,
            given_name=f"Given {n}",
            family_name="Family",
            date_of_birth=datetime.date(1990, 1, 1 + n),
        )
        for n in range(count)
    ]
    dek_cache.clear()
    return made


def _names_read_with_queries(ids: list[object]) -> tuple[list[str], int]:
    rows = list(Patient.objects.filter(id__in=ids).order_by("created_at"))
    with CaptureQueriesContext(connection) as queries:
        preload_keys(rows)
        names = [row.given_name for row in rows]
    return names, len(queries)


def test_preloading_opens_every_owner_in_one_query() -> None:
    few = _patients(2)
    _names, queries_for_two = _names_read_with_queries([p.id for p in few])
    many = _patients(9)
    names, queries_for_nine = _names_read_with_queries([p.id for p in many])
    assert queries_for_two == queries_for_nine == 1
    assert names == [f"Given {n}" for n in range(9)]


def test_preloading_cached_owners_costs_nothing() -> None:
    patients = _patients(3)
    preload_keys(patients)
    with CaptureQueriesContext(connection) as queries:
        dek_preload(OwnerKind.PATIENT, [p.id for p in patients])
    assert len(queries) == 0


def test_a_shredded_owner_is_left_out_and_still_refuses() -> None:
    kept, shredded = _patients(2)
    owner_keys_shred(kind=OwnerKind.PATIENT, owner_id=shredded.id, actor=SystemActor("test"))
    dek_cache.clear()
    rows = list(Patient.objects.filter(id__in=[kept.id, shredded.id]).order_by("created_at"))
    preload_keys(rows)
    assert rows[0].given_name == "Given 0"
    assert dek_cache.get((str(OwnerKind.PATIENT), shredded.id)) is None
