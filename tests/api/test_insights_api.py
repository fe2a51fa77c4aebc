"""``GET /api/v1/insights``: the seeded scenario's figures exactly, the period's errors, the
OpenAPI operation, and a query count that does not grow with the number of cases.

The expected figures are worked out in ``tests/cases/test_insights.py``'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from cuspid.accounts.models import User
from cuspid.cases.workflow import Action
from cuspid.tenancy.models import Organization
from tests.factories import make_lab_connection
from tests.factories.insights import (
    PATIENT_FAMILY,
    PATIENT_GIVEN,
    Scenario,
    Step,
    seed_case,
    seed_scenario,
)

SignedIn = Callable[[User], Client]
URL = "/api/v1/insights"


@pytest.fixture
def scenario(clinic: Organization, lab: Organization) -> Scenario:
    make_lab_connection(clinic=clinic, lab=lab)
    return seed_scenario(clinic, lab)


@pytest.fixture
def clinic_client(scenario: Scenario, signed_in: SignedIn) -> Client:
    return signed_in(scenario.clinician_a.user)


def _stage(
    stage: str, label: str, n: int, median: float | None, p90: float | None
) -> dict[str, Any]:
    return {"stage": stage, "label": label, "n": n, "median_hours": median, "p90_hours": p90}


def test_the_clinic_reads_its_figures(clinic_client: Client, scenario: Scenario) -> None:
    response = clinic_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["period"]["days"] == 90
    assert body["period"]["basis"] == "case_created"
    assert body["period"]["time_zone"] == "America/Toronto"
    assert (body["cases"], body["open_cases"]) == (6, 3)
    assert body["by_state"] == [
        {"status": "draft", "label": "Draft", "count": 1},
        {"status": "submitted", "label": "Sent to lab", "count": 1},
        {"status": "in_design", "label": "In design", "count": 1},
        {"status": "approved", "label": "Approved", "count": 1},
        {"status": "shipped", "label": "Shipped", "count": 2},
    ]
    assert body["overall"] == {
        "key": None,
        "label": "All cases",
        "cases": 5,
        "approved": 3,
        "approved_first_pass": 2,
        "first_pass_rate": 2 / 3,
        "mean_revisions": 4 / 3,
        "stages": [
            _stage("submitted_to_accepted", "Sent → accepted", 4, 5.0, 7.4),
            _stage("accepted_to_first_revision", "Accepted → first revision", 4, 2.0, 5.1),
            _stage("review_to_approval", "Review → approval", 3, 2.0, 3.6),
            _stage("approval_to_shipped", "Approval → shipped", 2, 20.5, 20.9),
            _stage("submitted_to_shipped", "Sent → shipped (total)", 2, 35.0, 39.0),
        ],
    }
    assert body["revision_distribution"] == [
        {"revisions": "1", "cases": 2},
        {"revisions": "2", "cases": 1},
        {"revisions": "3", "cases": 0},
        {"revisions": "4+", "cases": 0},
    ]
    breakdowns = {b["dimension"]: b for b in body["breakdowns"]}
    assert list(breakdowns) == ["lab", "clinician", "designer", "case_type"]
    designers = breakdowns["designer"]["groups"]
    assert [(g["label"], g["key"], g["cases"]) for g in designers] == [
        ("Xavier Lee", str(scenario.designer_x.user_id), 2),
        ("Yuki Tanaka", str(scenario.designer_y.user_id), 2),
        ("No revision yet", None, 1),
    ]
    yuki = designers[1]
    assert yuki["stages"][2] == _stage("review_to_approval", "Review → approval", 1, 1.0, 1.0)
    assert yuki["stages"][3] == _stage("approval_to_shipped", "Approval → shipped", 0, None, None)
    assert designers[2]["first_pass_rate"] is None
    assert designers[2]["mean_revisions"] is None
    text = response.content.decode()
    assert PATIENT_GIVEN not in text
    assert PATIENT_FAMILY not in text
    assert all(str(case.id) not in text for case in scenario.cases)


def test_a_period_narrows_the_cases(clinic_client: Client, scenario: Scenario) -> None:
    opened = scenario.cases[0].created_at.astimezone(ZoneInfo("America/Toronto")).date()

    before = clinic_client.get(URL, {"end": "2020-01-31"})
    assert before.status_code == 200
    assert before.json()["period"] == {
        "start": "2019-11-03",
        "end": "2020-01-31",
        "days": 90,
        "time_zone": "America/Toronto",
        "basis": "case_created",
    }
    assert (before.json()["cases"], before.json()["overall"]["cases"]) == (0, 0)
    around = clinic_client.get(URL, {"start": opened.isoformat()})
    assert around.json()["cases"] == 6


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"start": "2025-02-01", "end": "2025-01-31"}, "The start date is after the end date."),
        ({"start": "2023-01-01", "end": "2025-01-01"}, "Choose a period of at most 731 days."),
    ],
)
def test_a_backwards_or_too_long_period_answers_422(
    clinic_client: Client, query: dict[str, str], detail: str
) -> None:
    response = clinic_client.get(URL, query)

    assert response.status_code == 422
    assert response.json() == {"detail": detail, "code": "invalid"}


def test_a_date_that_is_not_a_date_answers_422(clinic_client: Client) -> None:
    response = clinic_client.get(URL, {"start": "last-week"})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


def test_the_operation_is_in_the_openapi_document(db: None) -> None:
    schema = Client().get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/insights"]["get"]
    assert operation["operationId"] == "insights_get"
    assert {p["name"] for p in operation["parameters"]} == {"start", "end"}
    assert set(operation["responses"]) == {"200", "403", "404", "422"}


def _queries(client: Client) -> int:
    """The queries one request costs in a session already in use."""
    assert client.get("/api/v1/me").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_endpoint_costs_the_same_for_6_or_26_cases(
    clinic_client: Client,
    scenario: Scenario,
    lab: Organization,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with_six = _queries(clinic_client)
    # Session, user, memberships, MFA check; cases by state, every breakdown's rows, the
    # members' names. Not PHI-scoped: no audited read.
    assert with_six == 4 + 3
    for hours in range(20):
        steps = [
            Step(Action.SUBMIT, scenario.clinician_b, 0),
            Step(Action.ACCEPT, scenario.lab_staff, hours),
        ]
        seed_case(scenario.clinician_b, scenario.patient, steps, lab=lab)
    with django_assert_num_queries(with_six):
        response = clinic_client.get(URL)
    assert response.json()["cases"] == 26
    assert response.json()["overall"]["stages"][0]["n"] == 24
