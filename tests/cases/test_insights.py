"""Workflow insights (``cuspid.cases.selectors.insights``): every figure checked exactly
against values worked out by hand from a seeded timeline, on SQLite and PostgreSQL alike.

The scenario (``tests.factories.insights.seed_scenario``) gives, for the stages:

=========================  ====================  ======  ================================
stage                      hours (sorted)        median  90th percentile
=========================  ====================  ======  ================================
sent → accepted            2, 4, 6, 8            5.0     6 + 0.7·(8 - 6) = 7.4
accepted → first revision  1, 1, 3, 6            2.0     3 + 0.7·(6 - 3) = 5.1
review → approval          1, 2, 4               2.0     2 + 0.8·(4 - 2) = 3.6
approval → shipped         20, 21                20.5    20 + 0.9·1 = 20.9
sent → shipped             30, 40                35.0    30 + 0.9·10 = 39.0
=========================  ====================  ======  ================================

(h = (n - 1)·p: 1.5 and 2.7 for four values, 1 and 1.8 for three, 0.5 and 0.9 for two.)
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.cases.models import Case, CaseEvent
from cuspid.cases.selectors.insights import (
    MAX_DAYS,
    Breakdown,
    Dimension,
    GroupFigures,
    Insights,
    InsightsPeriod,
    Percentile,
    Stage,
    _boundary_rows,
    _with_case_facts,
    insights_get_for,
    insights_period,
)
from cuspid.cases.workflow import Action
from cuspid.core import clock
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab, make_lab_connection
from tests.factories.approvals import approve_case
from tests.factories.cases import (
    actor_of,
    make_case,
    make_patient,
    make_revision,
    send_case,
    transition,
)
from tests.factories.insights import (
    PATIENT_FAMILY,
    PATIENT_GIVEN,
    REVISION,
    Scenario,
    Step,
    base_time,
    named_member,
    seed_case,
    seed_scenario,
)

if TYPE_CHECKING:
    # The test client's response type is private in the stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
S = Stage
# (n, median, p90) per stage, in STAGES order.
Figures = tuple[tuple[int, float | None, float | None], ...]
NONE: Figures = ((0, None, None),) * 5


def _figures(group: GroupFigures) -> Figures:
    return tuple((f.n, f.median_hours, f.p90_hours) for f in group.stages)


def _insights(member: Membership, period: InsightsPeriod | None = None) -> Insights:
    actor = actor_of(member)
    return insights_get_for(actor=actor, period=period or insights_period(actor=actor))


def _groups(insights: Insights, dimension: Dimension) -> dict[str, GroupFigures]:
    breakdown: Breakdown = next(b for b in insights.breakdowns if b.dimension == dimension)
    return {str(group.label): group for group in breakdown.groups}


@pytest.fixture
def scenario(clinic: Organization, lab: Organization) -> Scenario:
    make_lab_connection(clinic=clinic, lab=lab)
    return seed_scenario(clinic, lab)


# --- the percentile itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "percentile", "expected"),
    [
        (1, Percentile(1, 2), (1, 1, Fraction(0))),
        (1, Percentile(9, 10), (1, 1, Fraction(0))),
        (2, Percentile(1, 2), (1, 2, Fraction(1, 2))),
        (2, Percentile(9, 10), (1, 2, Fraction(9, 10))),
        (3, Percentile(1, 2), (2, 2, Fraction(0))),
        (4, Percentile(9, 10), (3, 4, Fraction(7, 10))),
        (11, Percentile(9, 10), (10, 10, Fraction(0))),
    ],
)
def test_the_percentile_lies_between_the_two_closest_ranks(
    n: int, percentile: Percentile, expected: tuple[int, int, Fraction]
) -> None:
    assert percentile.ranks(n) == expected


# --- one clinic's period -----------------------------------------------------------------------


def test_the_clinic_sees_its_cases_by_state_and_the_stage_times(scenario: Scenario) -> None:
    insights = _insights(scenario.clinician_a)

    assert insights.cases == 6
    assert insights.open_cases == 3
    assert [(s.status, s.count) for s in insights.by_state] == [
        ("draft", 1),
        ("submitted", 1),
        ("in_design", 1),
        ("approved", 1),
        ("shipped", 2),
    ]
    overall = insights.overall
    assert overall.cases == 5
    assert _figures(overall) == (
        (4, 5.0, 7.4),
        (4, 2.0, 5.1),
        (3, 2.0, 3.6),
        (2, 20.5, 20.9),
        (2, 35.0, 39.0),
    )
    assert insights.has_stage_data


def test_revisions_per_case_and_the_first_pass_rate(scenario: Scenario) -> None:
    overall = _insights(scenario.clinician_a).overall
    insights = _insights(scenario.clinician_a)

    # c1 and c3 approved at the first review; c2 after one change request and 2 revisions.
    assert (overall.approved, overall.first_pass, overall.revisions) == (3, 2, 4)
    assert overall.first_pass_rate == 2 / 3
    assert overall.revisions_mean == 4 / 3
    assert insights.revision_distribution == (2, 1, 0, 0)


def test_the_clinic_breaks_its_figures_down_by_lab_clinician_designer_and_case_type(
    scenario: Scenario, lab: Organization
) -> None:
    insights = _insights(scenario.clinician_a)

    assert [b.dimension for b in insights.breakdowns] == [
        Dimension.LAB,
        Dimension.CLINICIAN,
        Dimension.DESIGNER,
        Dimension.CASE_TYPE,
    ]
    by_lab = _groups(insights, Dimension.LAB)
    assert list(by_lab) == ["Bright Lab"]
    assert by_lab["Bright Lab"].key == str(lab.id)
    assert _figures(by_lab["Bright Lab"]) == _figures(insights.overall)

    # Clinician: who approved the case, or until then who sent it. A approved c1 and c2 and
    # sent c5; B approved c3 and sent c4.
    by_clinician = _groups(insights, Dimension.CLINICIAN)
    assert list(by_clinician) == ["Dr Amara Diallo", "Dr Ben Okafor"]
    amara, ben = by_clinician["Dr Amara Diallo"], by_clinician["Dr Ben Okafor"]
    assert amara.key == str(scenario.clinician_a.user_id)
    assert amara.cases == 3
    assert _figures(amara) == (
        (2, 3.0, 3.8),
        (2, 4.5, 5.7),
        (2, 3.0, 3.8),
        (2, 20.5, 20.9),
        (2, 35.0, 39.0),
    )
    assert (amara.approved, amara.first_pass, amara.first_pass_rate) == (2, 1, 0.5)
    assert amara.revisions_mean == 1.5
    # A single value is its own median and 90th percentile; no value, no figure.
    assert ben.cases == 2
    assert _figures(ben) == (
        (2, 7.0, 7.8),
        (2, 1.0, 1.0),
        (1, 1.0, 1.0),
        (0, None, None),
        (0, None, None),
    )
    assert (ben.approved, ben.first_pass_rate, ben.revisions_mean) == (1, 1.0, 1.0)

    # Designer: who uploaded the cycle's first revision; c5 has none yet (listed last).
    by_designer = _groups(insights, Dimension.DESIGNER)
    assert list(by_designer) == ["Xavier Lee", "Yuki Tanaka", "No revision yet"]
    assert _figures(by_designer["Xavier Lee"]) == _figures(amara)
    assert _figures(by_designer["Yuki Tanaka"]) == _figures(ben)
    waiting = by_designer["No revision yet"]
    assert (waiting.key, waiting.cases, _figures(waiting)) == (None, 1, NONE)
    assert (waiting.approved, waiting.first_pass_rate, waiting.revisions_mean) == (0, None, None)

    # Case type: an odd count (three crowns sent → accepted) and a single bridge.
    by_type = _groups(insights, Dimension.CASE_TYPE)
    assert list(by_type) == ["Crown", "Bridge"]
    crown, bridge = by_type["Crown"], by_type["Bridge"]
    assert (crown.key, crown.cases, bridge.key, bridge.cases) == ("crown", 4, "bridge", 1)
    assert _figures(crown) == (
        (3, 4.0, 7.2),
        (3, 3.0, 5.4),
        (2, 3.0, 3.8),
        (2, 20.5, 20.9),
        (2, 35.0, 39.0),
    )
    assert _figures(bridge) == ((1, 6.0, 6.0), (1, 1.0, 1.0), (1, 1.0, 1.0), *NONE[:2])


def test_the_lab_sees_the_same_figures_for_the_cases_shared_with_it(
    scenario: Scenario, clinic: Organization
) -> None:
    clinic_view = _insights(scenario.clinician_a)
    insights = _insights(scenario.designer_x)

    # The clinic's draft is not the lab's.
    assert (insights.cases, insights.open_cases) == (5, 3)
    assert [b.dimension for b in insights.breakdowns] == [
        Dimension.CLINIC,
        Dimension.CLINICIAN,
        Dimension.DESIGNER,
        Dimension.CASE_TYPE,
    ]
    assert _figures(insights.overall) == _figures(clinic_view.overall)
    by_clinic = _groups(insights, Dimension.CLINIC)
    assert list(by_clinic) == ["North Clinic"]
    assert by_clinic["North Clinic"].key == str(clinic.id)
    assert _figures(_groups(insights, Dimension.CLINICIAN)["Dr Ben Okafor"]) == _figures(
        _groups(clinic_view, Dimension.CLINICIAN)["Dr Ben Okafor"]
    )


def test_nothing_names_a_patient_or_a_case(scenario: Scenario) -> None:
    insights = _insights(scenario.clinician_a)

    text = repr(insights)
    for case in scenario.cases:
        assert str(case.id) not in text
        assert case.reference not in text
    assert scenario.patient.family_name not in text
    assert str(scenario.patient.id) not in text


# --- which cases count ---------------------------------------------------------------------------


def test_other_organisations_cases_never_count(
    scenario: Scenario, other_clinic: Organization, lab: Organization
) -> None:
    # Another clinic sends its own case to the same lab, and another lab gets a case of ours.
    make_lab_connection(clinic=other_clinic, lab=lab)
    other = named_member(other_clinic, "clinician", "Dr Other")
    seed_case(
        other,
        make_patient(other),
        [Step(Action.SUBMIT, other, 0), Step(Action.ACCEPT, scenario.lab_staff, 100)],
        lab=lab,
    )
    second_lab = make_lab(name="Far Lab")
    make_lab_connection(clinic=scenario.clinician_a.organization, lab=second_lab)
    far = named_member(second_lab, "lab_staff", "Far Staff")
    seed_case(
        scenario.clinician_a,
        scenario.patient,
        [Step(Action.SUBMIT, scenario.clinician_a, 0), Step(Action.ACCEPT, far, 50)],
        lab=second_lab,
    )

    mine = _insights(scenario.clinician_a)
    theirs = _insights(other)
    bright = _insights(scenario.lab_staff)
    far_view = _insights(far)

    # Ours: the six, plus the one at Far Lab (accepted after 50 h).
    assert mine.cases == 7
    assert _figures(mine.overall)[0] == (5, 6.0, 33.2)
    assert list(_groups(mine, Dimension.LAB)) == ["Bright Lab", "Far Lab"]
    # Theirs: only their own.
    assert theirs.cases == 1
    assert _figures(theirs.overall)[0] == (1, 100.0, 100.0)
    # Bright Lab: our five and their one, by clinic.
    assert bright.cases == 6
    assert {name: g.cases for name, g in _groups(bright, Dimension.CLINIC).items()} == {
        "North Clinic": 5,
        "South Clinic": 1,
    }
    # Far Lab: only the case sent to it.
    assert far_view.cases == 1
    assert _figures(far_view.overall)[0] == (1, 50.0, 50.0)


def test_a_case_counts_from_its_last_sending(
    clinic: Organization, lab: Organization, member_of: MemberOf
) -> None:
    """Withdrawn from one lab (or declined by it) and sent to another: the first lab's
    acceptance and revision never count, and the first lab no longer sees the case."""
    first_lab = make_lab(name="First Lab")
    make_lab_connection(clinic=clinic, lab=first_lab)
    make_lab_connection(clinic=clinic, lab=lab)
    a = named_member(clinic, "clinician", "Dr Amara Diallo")
    first = named_member(first_lab, "designer", "First Designer")
    second = named_member(lab, "designer", "Second Designer")
    patient = make_patient(a)
    withdrawn = [
        Step(Action.SUBMIT, a, 0, to=first_lab),
        Step(Action.ACCEPT, first, 1),
        Step(REVISION, first, 2),
        Step(Action.REVOKE_SHARE, a, 3),
        Step(Action.SUBMIT, a, 10, to=lab),
        Step(Action.ACCEPT, second, 15),
        Step(REVISION, second, 16),
    ]
    declined = [
        Step(Action.SUBMIT, a, 0, to=first_lab),
        Step(Action.DECLINE, first, 1),
        Step(Action.SUBMIT, a, 2, to=lab),
        Step(Action.ACCEPT, second, 4),
        Step(REVISION, second, 8),
    ]
    seed_case(a, patient, withdrawn)
    seed_case(a, patient, declined)

    clinic_view = _insights(a)
    assert _figures(clinic_view.overall)[:2] == ((2, 3.5, 4.7), (2, 2.5, 3.7))
    assert list(_groups(clinic_view, Dimension.DESIGNER)) == ["Second Designer"]
    assert list(_groups(clinic_view, Dimension.LAB)) == ["Bright Lab"]
    # The second lab sees both, timed from their last sending; the first sees neither.
    assert _figures(_insights(second).overall)[:2] == ((2, 3.5, 4.7), (2, 2.5, 3.7))
    gone = _insights(first)
    assert (gone.cases, gone.overall.cases, gone.has_stage_data) == (0, 0, False)


def test_a_withdrawn_case_stays_with_the_clinic_without_a_lab(
    clinic: Organization, lab: Organization
) -> None:
    make_lab_connection(clinic=clinic, lab=lab)
    a = named_member(clinic, "clinician", "Dr Amara Diallo")
    s = named_member(lab, "lab_staff", "Sam Roy")
    steps = [Step(Action.SUBMIT, a, 0), Step(Action.ACCEPT, s, 3), Step(Action.REVOKE_SHARE, a, 4)]
    seed_case(a, make_patient(a), steps, lab=lab)

    insights = _insights(a)
    no_lab = _groups(insights, Dimension.LAB)["No lab (withdrawn or declined)"]
    assert (no_lab.key, no_lab.cases, _figures(no_lab)[0]) == (None, 1, (1, 3.0, 3.0))
    assert _insights(s).cases == 0


def test_the_period_counts_cases_by_the_day_they_were_opened_in_the_clinic_time_zone(
    clinic: Organization, lab: Organization
) -> None:
    make_lab_connection(clinic=clinic, lab=lab)
    a = named_member(clinic, "clinician", "Dr Amara Diallo")
    s = named_member(lab, "lab_staff", "Sam Roy")
    patient = make_patient(a)
    toronto = ZoneInfo("America/Toronto")
    first = datetime.datetime(2025, 3, 1, 0, 0, tzinfo=toronto)
    for at, hours in ((first - datetime.timedelta(minutes=1), 1), (first, 2)):
        steps = [Step(Action.SUBMIT, a, 0), Step(Action.ACCEPT, s, hours)]
        seed_case(a, patient, steps, lab=lab, base=at)
    last = datetime.datetime(2025, 3, 31, 23, 59, tzinfo=toronto)
    seed_case(
        a, patient, [Step(Action.SUBMIT, a, 0), Step(Action.ACCEPT, s, 4)], lab=lab, base=last
    )
    seed_case(
        a, patient, [Step(Action.SUBMIT, a, 0)], lab=lab, base=last + datetime.timedelta(minutes=1)
    )

    march = InsightsPeriod(datetime.date(2025, 3, 1), datetime.date(2025, 3, 31), "America/Toronto")
    insights = _insights(a, march)

    assert (insights.cases, insights.period.days) == (2, 31)
    assert _figures(insights.overall)[0] == (2, 3.0, 3.8)
    assert march.bounds() == (first, datetime.datetime(2025, 4, 1, tzinfo=toronto))


def test_an_empty_period_has_no_figures(clinic: Organization, member_of: MemberOf) -> None:
    insights = _insights(member_of(clinic, Role.CLINICIAN))

    assert (insights.cases, insights.open_cases, insights.by_state) == (0, 0, ())
    assert insights.overall.cases == 0
    assert _figures(insights.overall) == NONE
    assert insights.revision_distribution == (0, 0, 0, 0)
    assert not insights.has_stage_data
    assert all(breakdown.groups == () for breakdown in insights.breakdowns)


# --- the period asked for ------------------------------------------------------------------------


def test_the_period_defaults_to_the_last_90_days_in_the_organisation_time_zone(
    clinic: Organization, member_of: MemberOf
) -> None:
    actor = actor_of(member_of(clinic, Role.STAFF))
    today = clock.now().astimezone(ZoneInfo(clinic.time_zone)).date()
    day = datetime.timedelta(days=1)

    default = insights_period(actor=actor)
    assert (default.start, default.end, default.days) == (today - 89 * day, today, 90)
    assert default.time_zone == clinic.time_zone
    start = datetime.date(2025, 1, 1)
    from_start = insights_period(actor=actor, start=start)
    assert (from_start.start, from_start.end) == (start, start + 89 * day)
    to_end = insights_period(actor=actor, end=start)
    assert (to_end.start, to_end.end) == (start - 89 * day, start)
    one_day = insights_period(actor=actor, start=start, end=start)
    assert one_day.days == 1


def test_a_backwards_or_too_long_period_is_refused(
    clinic: Organization, member_of: MemberOf
) -> None:
    actor: Actor = actor_of(member_of(clinic, Role.STAFF))
    start = datetime.date(2025, 1, 1)

    with pytest.raises(InvalidInput, match="after the end"):
        insights_period(actor=actor, start=start, end=start - datetime.timedelta(days=1))
    with pytest.raises(InvalidInput, match=f"at most {MAX_DAYS} days"):
        insights_period(actor=actor, start=start, end=start + datetime.timedelta(days=MAX_DAYS))
    longest = insights_period(
        actor=actor, start=start, end=start + datetime.timedelta(days=MAX_DAYS - 1)
    )
    assert longest.days == MAX_DAYS


# --- in the database, in a fixed number of queries -----------------------------------------------


def test_three_queries_whatever_the_number_of_cases(
    scenario: Scenario, lab: Organization, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    actor = actor_of(scenario.clinician_a)
    period = insights_period(actor=actor)
    # Cases by state; every breakdown's per-case rows and windows; the members' names.
    with django_assert_num_queries(3):
        before = insights_get_for(actor=actor, period=period)
    for _ in range(6):
        seed_case(
            scenario.clinician_b,
            scenario.patient,
            [
                Step(Action.SUBMIT, scenario.clinician_b, 0),
                Step(Action.ACCEPT, scenario.lab_staff, 1),
            ],
            lab=lab,
        )
    with django_assert_num_queries(3):
        after = insights_get_for(actor=actor, period=period)
    assert (before.cases, after.cases) == (6, 12)


def test_only_the_rows_around_each_percentile_leave_the_database(
    scenario: Scenario, lab: Organization
) -> None:
    """Python combines at most the two rows each percentile lies between: however many
    cases are ranked, one group sends at most 1 + 5 stages x 2 percentiles x 2 rows."""
    for hours in range(40):
        steps = [
            Step(Action.SUBMIT, scenario.clinician_b, 0),
            Step(Action.ACCEPT, scenario.lab_staff, hours / 4),
        ]
        seed_case(scenario.clinician_b, scenario.patient, steps, lab=lab)
    cases = Case.objects.filter(organization=scenario.clinician_a.organization)

    rows = _boundary_rows(_with_case_facts(cases), [Dimension.ALL])

    assert 4 <= len(rows) <= 1 + 5 * 2 * 2
    assert _figures(_insights(scenario.clinician_a).overall)[0] == (44, 4.875, 8.675)


# --- through the real services -------------------------------------------------------------------


@pytest.fixture
def stored_files(settings: Settings, tmp_path: Path) -> None:
    """Files and the approval signing key under the test's own folder."""
    settings.CUSPID_APPROVAL_SIGNING_KEY = tmp_path / "keys" / "approval_signing_key.pem"
    settings.CUSPID_APPROVAL_SIGNING_KEY_CREATE = True
    location = tmp_path / "blob-store"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


@pytest.mark.usefixtures("stored_files", "connection_")
def test_the_timeline_the_services_write_is_what_insights_read(
    clinic: Organization, lab: Organization, member_of: MemberOf
) -> None:
    clinician = member_of(clinic, Role.CLINICIAN)
    designer = member_of(lab, Role.DESIGNER)
    lab_staff = member_of(lab, Role.LAB_STAFF)
    # Each service answers the case as it left it (shared, moved on): use that one next.
    case = send_case(clinician, make_case(clinician), lab)
    case = transition(lab_staff, case, Action.ACCEPT)
    make_revision(designer, case)
    case = transition(designer, case, Action.SEND_FOR_REVIEW)
    case = transition(clinician, case, Action.REQUEST_CHANGES, reason="Open the contact.")
    make_revision(designer, case, note="Second proposal.")
    case = transition(designer, case, Action.SEND_FOR_REVIEW)
    case = approve_case(clinician, case)
    case = transition(lab_staff, case, Action.START_PRODUCTION)
    case = transition(lab_staff, case, Action.SHIP)
    # Move the timeline to known hours, in the order it was written.
    hours: dict[str, list[float]] = {
        Action.SUBMIT: [0],
        Action.ACCEPT: [1.5],
        Action.START_DESIGN: [2, 6],
        REVISION: [2.25, 6.25],
        Action.SEND_FOR_REVIEW: [3, 7],
        Action.REQUEST_CHANGES: [5],
        Action.APPROVE: [7.75],
        Action.START_PRODUCTION: [8],
        Action.SHIP: [26],
    }
    base = base_time()
    for entry, times in hours.items():
        events = CaseEvent.objects.filter(case=case, entry=entry).order_by("created_at", "id")
        assert events.count() == len(times), entry
        for event, at in zip(events, times, strict=True):
            CaseEvent.objects.filter(pk=event.pk).update(
                created_at=base + datetime.timedelta(hours=at)
            )

    overall = _insights(clinician).overall
    assert _figures(overall) == (
        (1, 1.5, 1.5),
        (1, 0.75, 0.75),
        (1, 0.75, 0.75),
        (1, 18.25, 18.25),
        (1, 26.0, 26.0),
    )
    assert (overall.approved, overall.first_pass, overall.revisions) == (1, 0, 2)


# --- the page and its CSV ------------------------------------------------------------------------


def _csv(response: TestResponse) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_page_shows_the_cards_the_charts_and_the_breakdowns(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    response = signed_in(scenario.clinician_a.user).get(reverse("cases:insights"))

    assert response.status_code == 200
    html = response.content.decode()
    main = html[html.index("<main") :]
    # Cards: open cases, median turnaround (35.0 h over 2 shipped, about 1.5 days),
    # first-pass 67 %.
    assert '<p class="figure">3</p>' in main
    assert '<p class="figure">35.0 h <span class="figure-aside">≈ 1.5 days</span></p>' in main
    assert '<p class="figure">67 %</p>' in main
    # Two charts drawn on the server, each an image with a title, and tables with the figures.
    assert main.count('role="img"') == 2
    assert '<title id="chart-stages-title">Time per stage</title>' in main
    assert '<td class="number">7.4 h</td>' in main
    for heading in ("By lab", "By clinician", "By designer", "By case type"):
        assert f">{heading}</h2>" in main
    assert "Yuki Tanaka" in main
    # No inline style or script: the CSP allows neither.
    assert " style=" not in main
    assert "<script>" not in main
    assert PATIENT_GIVEN not in html
    assert PATIENT_FAMILY not in html
    assert 'href="/insights.csv"' in main


def test_the_page_says_when_no_case_finished_a_stage(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    clinician = member_of(clinic, Role.CLINICIAN)
    seed_case(clinician, make_patient(clinician))

    html = signed_in(clinician.user).get(reverse("cases:insights")).content.decode()

    assert "No cases finished a stage in this period yet." in html
    assert "No case was approved in this period yet." in html
    assert 'id="chart-states"' in html
    assert 'id="chart-stages"' not in html
    assert ">By lab</h2>" not in html


def test_the_page_keeps_the_period_asked_for_and_refuses_a_backwards_one(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    client = signed_in(scenario.clinician_a.user)
    url = reverse("cases:insights")

    earlier = client.get(url, {"start": "2020-01-01", "end": "2020-01-31"})
    assert earlier.status_code == 200
    assert earlier.context["insights"].cases == 0
    assert 'value="2020-01-31"' in earlier.content.decode()
    assert "No cases were opened in this period." in earlier.content.decode()
    assert 'href="/insights.csv?start=2020-01-01&amp;end=2020-01-31"' in earlier.content.decode()

    backwards = client.get(url, {"start": "2020-02-01", "end": "2020-01-31"})
    assert backwards.status_code == 422
    assert backwards.context["insights"] is None
    assert "The start date is after the end date." in backwards.content.decode()
    not_a_date = client.get(url, {"start": "soon"})
    assert not_a_date.status_code == 422
    assert not_a_date.context["form"].errors["start"]


def test_the_csv_has_one_row_per_stage_and_group(scenario: Scenario, signed_in: SignedIn) -> None:
    response = signed_in(scenario.designer_y.user).get(reverse("cases:insights_csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert re.fullmatch(
        r'attachment; filename="cuspid-insights-\d{8}-\d{8}\.csv"', response["Content-Disposition"]
    )
    rows = _csv(response)
    # All cases, then by clinic (1), clinician (2), designer (3), case type (2): 9 groups.
    assert len(rows) == 9 * 5
    assert rows[0] == {
        "breakdown": "all",
        "group": "All cases",
        "stage": "submitted_to_accepted",
        "cases_finished_stage": "4",
        "median_hours": "5.0",
        "p90_hours": "7.4",
        "group_cases": "5",
        "approved_cases": "3",
        "first_pass_rate_percent": "66.7",
        "mean_revisions": "1.33",
    }
    waiting = [row for row in rows if row["group"] == "No revision yet"]
    assert [row["stage"] for row in waiting] == [stage.value for stage in Stage]
    assert waiting[0] | {"stage": ""} == {
        "breakdown": "designer",
        "group": "No revision yet",
        "stage": "",
        "cases_finished_stage": "0",
        "median_hours": "",
        "p90_hours": "",
        "group_cases": "1",
        "approved_cases": "0",
        "first_pass_rate_percent": "",
        "mean_revisions": "",
    }
    assert {row["group"] for row in rows if row["breakdown"] == "clinic"} == {"North Clinic"}
    text = response.content.decode()
    assert PATIENT_GIVEN not in text
    assert PATIENT_FAMILY not in text


def test_a_name_in_the_csv_is_never_a_formula(
    clinic: Organization, lab: Organization, signed_in: SignedIn
) -> None:
    make_lab_connection(clinic=clinic, lab=lab)
    sly = named_member(clinic, "clinician", '=HYPERLINK("http://evil.example")')
    seed_case(sly, make_patient(sly), [Step(Action.SUBMIT, sly, 0)], lab=lab)

    rows = _csv(signed_in(sly.user).get(reverse("cases:insights_csv")))

    clinicians = {row["group"] for row in rows if row["breakdown"] == "clinician"}
    assert clinicians == {'\'=HYPERLINK("http://evil.example")'}


def test_the_csv_refuses_a_backwards_period(scenario: Scenario, signed_in: SignedIn) -> None:
    response = signed_in(scenario.clinician_a.user).get(
        reverse("cases:insights_csv"), {"start": "2020-02-01", "end": "2020-01-31"}
    )

    assert response.status_code == 422
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "The start date is after the end date."
