"""Workflow insights: how long an organisation's cases take, computed in the database.

Which cases
    The actor's visible cases (:func:`cuspid.cases.policies.visible_cases`): a clinic's own
    cases; for a lab, the cases shared with it now. A case withdrawn from a lab (or declined
    by it) leaves that lab's figures at once, as it leaves its case list. The period selects
    cases by **creation** (``Case.created_at``), from the start date to the end date
    inclusive, in the organisation's time zone; the default is the last 90 days.

The current cycle
    A case may be sent more than once (declined by one lab, withdrawn, sent to another).
    Every stage is measured in its **current cycle**: the events at or after its last
    ``submit``. A lab therefore never inherits another lab's accept or revisions. A case
    never sent has no cycle and counts only in "cases by state".

Stages (``CaseEvent.created_at`` of the timeline's entries, all in the current cycle)
    - submitted → accepted: the last ``submit`` → the first ``accept`` after it.
    - accepted → first revision: that ``accept`` → the first ``revision_created``.
    - review → approval: the last ``send_for_review`` before the ``approve`` → the
      ``approve``. (Once approved a case is never sent for review again, so the cycle's last
      ``send_for_review`` is the one before the approval.)
    - approval → shipped: the ``approve`` → the first ``ship``.
    - submitted → shipped (total turnaround): the last ``submit`` → the first ``ship``.
    A stage counts for a case once both of its ends exist.

Rates
    Approved cases are those with an ``approve`` in the current cycle. Revisions per case is
    the number of ``revision_created`` in the cycle of each approved case (mean, and how
    many approved cases needed 1, 2, 3, 4 or more). The first-pass approval rate is the
    share of approved cases approved without any ``request_changes`` in the cycle.

Breakdowns
    - lab: the lab the case is shared with now (a clinic's view; "No lab" once withdrawn).
    - clinic: the clinic that owns the case (a lab's view).
    - clinician: who approved the case, or until then who sent it (sending and approving
      both need a clinician).
    - designer: who uploaded the cycle's first revision.
    - case type.
    Names are members' and organisations' names, never a patient's.

Percentiles
    Linear interpolation between the closest ranks, as numpy's default and PostgreSQL's
    ``percentile_cont``. With a group's n values sorted, x(1) <= ... <= x(n) (1-based
    ranks), h = (n - 1) * p and k = floor(h), the p-th percentile is
    x(k + 1) + (h - k) * (x(k + 2) - x(k + 1)); the median is p = 1/2, the 90th p = 9/10.
    The database ranks every case in its group with ``ROW_NUMBER()``, counts the group with
    ``COUNT() OVER``, and returns only the rows at ranks floor(h) + 1 and ceil(h) + 1;
    Python interpolates between those two rows, exactly (fractions of microseconds).

Queries
    Three, whatever the number of cases: the cases by state (grouped by status); every
    breakdown at once (the organisation's events joined once and aggregated per case with
    conditional aggregates, ``Min(..., filter=Q(...))``, the stage durations as database
    expressions, then each breakdown's window functions over those per-case rows, keeping
    only the rows the percentiles need); the names of the members shown. Measured on this
    project's test machine: PostgreSQL about 0.1 s for 300 cases in a period and 0.3 s for
    2,000; SQLite (the embedded default, for small installations) about 0.7 s for 300,
    as it sorts and copies the rows once per window.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Case as Conditional
from django.db.models import (
    Count,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    When,
    Window,
)
from django.db.models import Value as V
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce, RowNumber
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from cuspid.access.enforce import RouteActor
from cuspid.accounts.models import User
from cuspid.cases.enums import CaseStatus, CaseType, TimelineEntry
from cuspid.cases.models import Case, CaseEvent
from cuspid.cases.policies import visible_cases
from cuspid.cases.workflow import Action, State
from cuspid.core import clock
from cuspid.core.errors import InvalidInput

DEFAULT_DAYS = 90
# A longer range would rank years of cases at once; two years covers any useful comparison.
MAX_DAYS = 731
# Sent to a lab and not yet shipped: the cases someone is still working on.
OPEN_STATES = frozenset(
    {
        State.SUBMITTED,
        State.ACCEPTED,
        State.IN_DESIGN,
        State.AWAITING_REVIEW,
        State.CHANGES_REQUESTED,
        State.APPROVED,
        State.IN_PRODUCTION,
    }
)
# Revisions per approved case: 1, 2, 3, and 4 or more.
REVISION_BUCKETS = 4

_SUBMIT = Action.SUBMIT.value
_ACCEPT = Action.ACCEPT.value
_REVISION = TimelineEntry.REVISION_CREATED.value
_SEND_FOR_REVIEW = Action.SEND_FOR_REVIEW.value
_REQUEST_CHANGES = Action.REQUEST_CHANGES.value
_APPROVE = Action.APPROVE.value
_SHIP = Action.SHIP.value


class Stage(StrEnum):
    SUBMITTED_TO_ACCEPTED = "submitted_to_accepted"
    ACCEPTED_TO_FIRST_REVISION = "accepted_to_first_revision"
    REVIEW_TO_APPROVAL = "review_to_approval"
    APPROVAL_TO_SHIPPED = "approval_to_shipped"
    SUBMITTED_TO_SHIPPED = "submitted_to_shipped"


@dataclass(frozen=True, slots=True)
class StageSpec:
    """A stage: its label and the per-case timestamps (annotation names) it runs between."""

    stage: Stage
    label: str | Promise
    start: str
    end: str


STAGES: tuple[StageSpec, ...] = (
    StageSpec(Stage.SUBMITTED_TO_ACCEPTED, _("Sent → accepted"), "submitted_at", "accepted_at"),
    StageSpec(
        Stage.ACCEPTED_TO_FIRST_REVISION,
        _("Accepted → first revision"),
        "accepted_at",
        "first_revision_at",
    ),
    StageSpec(Stage.REVIEW_TO_APPROVAL, _("Review → approval"), "review_at", "approved_at"),
    StageSpec(Stage.APPROVAL_TO_SHIPPED, _("Approval → shipped"), "approved_at", "shipped_at"),
    StageSpec(
        Stage.SUBMITTED_TO_SHIPPED, _("Sent → shipped (total)"), "submitted_at", "shipped_at"
    ),
)


@dataclass(frozen=True, slots=True)
class Percentile:
    """The p-th percentile as a fraction ``numerator / denominator`` (median: 1/2)."""

    numerator: int
    denominator: int

    def ranks(self, n: int) -> tuple[int, int, Fraction]:
        """The two 1-based ranks to interpolate between in n sorted values, and the weight
        of the upper one: h = (n - 1)·p; ranks ⌊h⌋ + 1 and ⌈h⌉ + 1; weight h - ⌊h⌋."""
        scaled = (n - 1) * self.numerator
        low = scaled // self.denominator
        high = -(-scaled // self.denominator)
        return low + 1, high + 1, Fraction(scaled % self.denominator, self.denominator)


MEDIAN = Percentile(1, 2)
P90 = Percentile(9, 10)
PERCENTILES = (MEDIAN, P90)


class Dimension(StrEnum):
    ALL = "all"
    LAB = "lab"
    CLINIC = "clinic"
    CLINICIAN = "clinician"
    DESIGNER = "designer"
    CASE_TYPE = "case_type"


DIMENSION_LABELS: Mapping[Dimension, str | Promise] = {
    Dimension.ALL: _("All cases"),
    Dimension.LAB: _("By lab"),
    Dimension.CLINIC: _("By clinic"),
    Dimension.CLINICIAN: _("By clinician"),
    Dimension.DESIGNER: _("By designer"),
    Dimension.CASE_TYPE: _("By case type"),
}
# What a group without a value stands for.
_NO_VALUE_LABELS: Mapping[Dimension, str | Promise] = {
    Dimension.LAB: _("No lab (withdrawn or declined)"),
    Dimension.DESIGNER: _("No revision yet"),
}


@dataclass(frozen=True, slots=True)
class InsightsPeriod:
    """The days whose new cases are counted: ``start`` to ``end`` inclusive, in the
    organisation's time zone."""

    start: datetime.date
    end: datetime.date
    time_zone: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """The first instant of ``start`` and the first instant after ``end``."""
        zone = ZoneInfo(self.time_zone)
        first = datetime.datetime.combine(self.start, datetime.time.min, tzinfo=zone)
        after = datetime.datetime.combine(
            self.end + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
        )
        return first, after


@dataclass(frozen=True, slots=True)
class StateCount:
    status: str
    label: str | Promise
    count: int


@dataclass(frozen=True, slots=True)
class StageFigure:
    """One stage in one group: how many cases finished it, their median and 90th percentile
    in hours (``None`` without any)."""

    stage: Stage
    label: str | Promise
    n: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """The figures of one group of a breakdown (or of all the organisation's sent cases)."""

    key: str | None
    label: str | Promise
    cases: int
    approved: int
    first_pass: int
    revisions: int
    stages: tuple[StageFigure, ...]

    @property
    def first_pass_rate(self) -> float | None:
        """Approved without any change request, as a share of approved cases."""
        return self.first_pass / self.approved if self.approved else None

    @property
    def revisions_mean(self) -> float | None:
        """Revisions per approved case."""
        return self.revisions / self.approved if self.approved else None

    def stage(self, stage: Stage) -> StageFigure:
        return next(figure for figure in self.stages if figure.stage == stage)


@dataclass(frozen=True, slots=True)
class Breakdown:
    dimension: Dimension
    label: str | Promise
    groups: tuple[GroupFigures, ...]


@dataclass(frozen=True, slots=True)
class Insights:
    """Everything the insights page, its CSV and the API show, for one period."""

    period: InsightsPeriod
    is_lab: bool
    # Every case opened in the period, and those sent and not yet shipped.
    cases: int
    open_cases: int
    by_state: tuple[StateCount, ...]
    # The period's sent cases, all together.
    overall: GroupFigures
    # How many approved cases needed 1, 2, 3, and 4 or more revisions.
    revision_distribution: tuple[int, ...]
    breakdowns: tuple[Breakdown, ...]

    @property
    def has_stage_data(self) -> bool:
        """Whether any case finished any stage."""
        return any(figure.n for figure in self.overall.stages)


def insights_period(
    *, actor: RouteActor, start: datetime.date | None = None, end: datetime.date | None = None
) -> InsightsPeriod:
    """The period asked for, with defaults: ending today, 90 days long.

    Guarantees ``start <= end`` and at most ``MAX_DAYS`` days. Raises InvalidInput
    otherwise. Audits nothing (it reads nothing).
    """
    time_zone = actor.organization.time_zone
    if end is None:
        today = clock.now().astimezone(ZoneInfo(time_zone)).date()
        end = today if start is None else start + datetime.timedelta(days=DEFAULT_DAYS - 1)
    if start is None:
        start = end - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput("The start date is after the end date.")
    period = InsightsPeriod(start=start, end=end, time_zone=time_zone)
    if period.days > MAX_DAYS:
        raise InvalidInput(f"Choose a period of at most {MAX_DAYS} days.")
    return period


# --- per case: the cycle's timestamps and counts, by conditional aggregation ------------------


def _last_submit_id() -> Subquery:
    """The id of the case's last ``submit``: where its current cycle starts."""
    submits = CaseEvent.objects.filter(case_id=OuterRef("pk"), entry=_SUBMIT)
    return Subquery(submits.order_by("-created_at", "-id").values("id")[:1])


def _cycle_event_id(entry: str) -> Subquery:
    """The id of the first event of one kind in the case's current cycle."""
    cycle_start = CaseEvent.objects.filter(case_id=OuterRef("case_id"), entry=_SUBMIT)
    events = CaseEvent.objects.filter(
        case_id=OuterRef("pk"),
        entry=entry,
        created_at__gte=Subquery(cycle_start.order_by("-created_at").values("created_at")[:1]),
    )
    return Subquery(events.order_by("created_at", "id").values("id")[:1])


def _in_cycle(entry: str) -> Q:
    """The case's events of one kind in its current cycle (at or after its last submit)."""
    return Q(events__entry=entry, events__created_at__gte=F("cycle__created_at"))


# The columns a breakdown groups by (and names organisations by).
_CASE_COLUMNS = (
    "pk",
    "case_type",
    "organization_id",
    "organization__name",
    "shared_with_lab_id",
    "shared_with_lab__name",
)


def _with_case_facts(cases: QuerySet[Case]) -> QuerySet[Any]:
    """One row per sent case among ``cases``: its cycle's stage timestamps and durations,
    revision and change-request counts, and the people it is grouped by.

    The case's events are joined once and aggregated per case; three more joins pick single
    events (the last submit, the cycle's first revision, the approval) for their time and
    actor, so no row is repeated.
    """
    joined = cases.annotate(
        cycle=FilteredRelation("events", condition=Q(events__id=_last_submit_id())),
        first_revision=FilteredRelation(
            "events", condition=Q(events__id=_cycle_event_id(_REVISION))
        ),
        approval=FilteredRelation("events", condition=Q(events__id=_cycle_event_id(_APPROVE))),
    ).filter(cycle__id__isnull=False)
    per_case = joined.values(*_CASE_COLUMNS).annotate(
        designer=F("first_revision__actor_id"),
        clinician=Coalesce(F("approval__actor_id"), F("cycle__actor_id")),
        submitted_at=Max("cycle__created_at"),
        accepted_at=Min("events__created_at", filter=_in_cycle(_ACCEPT)),
        first_revision_at=Min("events__created_at", filter=_in_cycle(_REVISION)),
        review_at=Max("events__created_at", filter=_in_cycle(_SEND_FOR_REVIEW)),
        approved_at=Min("events__created_at", filter=_in_cycle(_APPROVE)),
        shipped_at=Min("events__created_at", filter=_in_cycle(_SHIP)),
        revision_count=Count("events", filter=_in_cycle(_REVISION)),
        change_requests=Count("events", filter=_in_cycle(_REQUEST_CHANGES)),
    )
    return per_case.annotate(**{_duration(spec): F(spec.end) - F(spec.start) for spec in STAGES})


def _duration(spec: StageSpec) -> str:
    return f"d_{spec.stage.value}"


# --- per group: ranks and counts as window functions ------------------------------------------


class _Over(Func):
    """An aggregate of the per-case rows, for ``Window``: ``COUNT`` or ``SUM`` … ``OVER``.

    The per-case figures are themselves aggregates of this grouped query. SQL allows an
    aggregate of them as a window function (windows run after GROUP BY), on PostgreSQL and
    SQLite alike; Django's ``Count``/``Sum`` refuse an aggregate argument even inside
    ``Window``, so this plain function stands in for them there.
    """

    window_compatible = True
    output_field = IntegerField()


class _BoundaryRank(Func):
    """The rank ⌊(n - 1)·p⌋ + 1 (``upper``: ⌈(n - 1)·p⌉ + 1) in a group of n cases, where n
    is a ``COUNT() OVER`` window, in integer arithmetic (n >= 1, so division truncates as
    floor does).

    It is computed from window functions, after GROUP BY, so it is never a grouping column
    itself (Django would group by any non-aggregate expression it selects).
    """

    template = "%(expressions)s"
    output_field = IntegerField()

    def __init__(self, count: Combinable, percentile: Percentile, *, upper: bool) -> None:
        scaled = (count - 1) * percentile.numerator
        if upper:
            scaled = scaled + (percentile.denominator - 1)
        super().__init__(scaled / percentile.denominator + 1)

    def get_group_by_cols(self) -> list[Any]:
        return []


_KEYS: Mapping[Dimension, str | None] = {
    Dimension.ALL: None,
    Dimension.LAB: "shared_with_lab_id",
    Dimension.CLINIC: "organization_id",
    Dimension.CLINICIAN: "clinician",
    Dimension.DESIGNER: "designer",
    Dimension.CASE_TYPE: "case_type",
}
# Organisations are named by the row; members by one query after.
_ORG_LABELS: Mapping[Dimension, str] = {
    Dimension.LAB: "shared_with_lab__name",
    Dimension.CLINIC: "organization__name",
}
_MEMBER_DIMENSIONS = frozenset({Dimension.CLINICIAN, Dimension.DESIGNER})
_GROUP_FIGURES = ("cases", "approved", "first_pass", "revisions")


def _column(dimension: Dimension, figure: str, spec: StageSpec | None = None) -> str:
    """The name of one window column of one breakdown (``all_rank_review_to_approval``)."""
    return f"{dimension.value}_{figure}" + (f"_{spec.stage.value}" if spec is not None else "")


def _bucket(index: int) -> str:
    return f"revisions_{index + 1}"


def _approved() -> Q:
    return Q(approved_at__isnull=False)


def _ones(condition: Q) -> Conditional:
    return Conditional(When(condition, then=V(1)), default=V(0))


def _needed(bucket: int) -> Q:
    """Cases that needed 1 (or, impossibly, fewer), 2, 3, or 4 or more revisions."""
    if bucket == 0:
        return Q(revision_count__lte=1)
    if bucket == REVISION_BUCKETS - 1:
        return Q(revision_count__gte=REVISION_BUCKETS)
    return Q(revision_count=bucket + 1)


def _breakdown_windows(dimension: Dimension) -> tuple[dict[str, Any], Q]:
    """One breakdown's window columns, and which rows it needs: per group, the case ranked
    first for the first stage (every group has one, and every row carries its groups'
    counts) and, per stage, the cases at the two ranks each percentile lies between."""
    key = _KEYS[dimension]
    partition = [F(key)] if key is not None else None

    def over(expression: Any, *order: Any) -> Window:
        return Window(expression, partition_by=partition, order_by=list(order) or None)

    def total(expression: Any) -> Window:
        return over(_Over(expression, function="SUM"))

    windows: dict[str, Any] = {
        _column(dimension, "cases"): over(_Over(F("pk"), function="COUNT")),
        _column(dimension, "approved"): total(_ones(_approved())),
        _column(dimension, "first_pass"): total(_ones(_approved() & Q(change_requests=0))),
        _column(dimension, "revisions"): total(
            Conditional(When(_approved(), then=F("revision_count")), default=V(0))
        ),
    }
    wanted = Q(**{_column(dimension, "rank", STAGES[0]): 1})
    for spec in STAGES:
        duration = F(_duration(spec))
        rank, count = _column(dimension, "rank", spec), _column(dimension, "n", spec)
        windows[rank] = over(RowNumber(), duration.asc(nulls_last=True), F("pk").asc())
        windows[count] = over(_Over(duration, function="COUNT"))
        for percentile in PERCENTILES:
            for upper in (False, True):
                wanted |= Q(**{rank: _BoundaryRank(F(count), percentile, upper=upper)})
    return windows, wanted


def _boundary_rows(facts: QuerySet[Any], dimensions: Sequence[Dimension]) -> list[dict[str, Any]]:
    """One query: the per-case rows every breakdown needs, with all their window columns.

    Every breakdown ranks and counts the same per-case rows in its own partitions, so the
    cases' events are joined and aggregated once for all of them.
    """
    windows: dict[str, Any] = {
        _bucket(index): Window(_Over(_ones(_approved() & _needed(index)), function="SUM"))
        for index in range(REVISION_BUCKETS)
    }
    wanted = Q()
    for dimension in dimensions:
        more, needed = _breakdown_windows(dimension)
        windows.update(more)
        wanted |= needed
    names = [*windows, *(_duration(spec) for spec in STAGES)]
    names += [key for d in dimensions if (key := _KEYS[d]) is not None]
    names += [_ORG_LABELS[d] for d in dimensions if d in _ORG_LABELS]
    return list(facts.annotate(**windows).filter(wanted).order_by().values(*names))


def _hours(value: datetime.timedelta) -> Fraction:
    return Fraction(value // datetime.timedelta(microseconds=1), 3_600_000_000)


def _percentile(
    dimension: Dimension,
    rows: Sequence[Mapping[str, Any]],
    spec: StageSpec,
    percentile: Percentile,
) -> float | None:
    """The percentile of one stage in one group, from its boundary rows."""
    n: int = rows[0][_column(dimension, "n", spec)]
    if not n:
        return None
    low, high, weight = percentile.ranks(n)
    rank = _column(dimension, "rank", spec)
    at = {row[rank]: row[_duration(spec)] for row in rows}
    lower, upper = _hours(at[low]), _hours(at[high])
    return float(lower + (upper - lower) * weight)


def _group(
    dimension: Dimension, key: object, label: str | Promise, rows: Sequence[Mapping[str, Any]]
) -> GroupFigures:
    """One group's figures from its rows (each carries the group's window columns)."""
    first = rows[0]
    counts = {figure: int(first[_column(dimension, figure)]) for figure in _GROUP_FIGURES}
    return GroupFigures(
        key=None if key is None else str(key),
        label=label,
        **counts,
        stages=tuple(
            StageFigure(
                stage=spec.stage,
                label=spec.label,
                n=first[_column(dimension, "n", spec)],
                median_hours=_percentile(dimension, rows, spec, MEDIAN),
                p90_hours=_percentile(dimension, rows, spec, P90),
            )
            for spec in STAGES
        ),
    )


def _empty_group(label: str | Promise) -> GroupFigures:
    return GroupFigures(
        key=None,
        label=label,
        cases=0,
        approved=0,
        first_pass=0,
        revisions=0,
        stages=tuple(StageFigure(spec.stage, spec.label, 0, None, None) for spec in STAGES),
    )


def _by_group(
    rows: Iterable[dict[str, Any]], dimension: Dimension
) -> dict[object, list[dict[str, Any]]]:
    key = _KEYS[dimension]
    groups: dict[object, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row[key] if key is not None else None].append(row)
    return groups


def _member_names(ids: Iterable[object]) -> dict[object, str]:
    """Members' names by id, in one query (a member without a name gets a generic label)."""
    users = User.objects.filter(pk__in=[i for i in ids if i is not None])
    return {
        pk: name or str(_("Unnamed member")) for pk, name in users.values_list("pk", "full_name")
    }


def _label(
    dimension: Dimension,
    key: object,
    rows: Sequence[Mapping[str, Any]],
    members: Mapping[object, str],
) -> str | Promise:
    if key is None:
        return _NO_VALUE_LABELS.get(dimension, DIMENSION_LABELS[Dimension.ALL])
    if dimension in _ORG_LABELS:
        name: str = rows[0][_ORG_LABELS[dimension]]
        return name
    if dimension == Dimension.CASE_TYPE:
        return CaseType(str(key)).label
    return members[key]


def _ordered(groups: Iterable[GroupFigures]) -> tuple[GroupFigures, ...]:
    """Biggest groups first, then by name; the group without a value last."""
    return tuple(sorted(groups, key=lambda g: (g.key is None, -g.cases, str(g.label).casefold())))


def insights_get_for(*, actor: RouteActor, period: InsightsPeriod) -> Insights:
    """The workflow figures of the actor's organisation for the cases opened in ``period``.

    The caller checks ``Perm.InsightsView`` on the organisation first. Counts only the
    actor's visible cases; shows no patient and no case, only counts, durations and the
    names of members and organisations. A fixed number of queries, whatever the number of
    cases (see the module's docstring). Raises nothing; audits nothing (no patient data).
    """
    first, after = period.bounds()
    cases = visible_cases(actor).filter(created_at__gte=first, created_at__lt=after)
    counts = dict(cases.order_by().values_list("status").annotate(n=Count("id")))
    is_lab = not actor.organization.is_clinic
    dimensions = (
        Dimension.ALL,
        Dimension.CLINIC if is_lab else Dimension.LAB,
        Dimension.CLINICIAN,
        Dimension.DESIGNER,
        Dimension.CASE_TYPE,
    )
    rows = _boundary_rows(_with_case_facts(cases), dimensions)
    grouped = {dimension: _by_group(rows, dimension) for dimension in dimensions}
    members = _member_names(
        key for dimension in _MEMBER_DIMENSIONS for key in grouped.get(dimension, ())
    )
    all_label = DIMENSION_LABELS[Dimension.ALL]
    overall = _group(Dimension.ALL, None, all_label, rows) if rows else _empty_group(all_label)
    breakdowns = tuple(
        Breakdown(
            dimension=dimension,
            label=DIMENSION_LABELS[dimension],
            groups=_ordered(
                _group(dimension, key, _label(dimension, key, group, members), group)
                for key, group in grouped[dimension].items()
            ),
        )
        for dimension in dimensions[1:]
    )
    return Insights(
        period=period,
        is_lab=is_lab,
        cases=sum(counts.values()),
        open_cases=sum(n for status, n in counts.items() if status in OPEN_STATES),
        by_state=tuple(
            StateCount(status, label, counts[status])
            for status, label in CaseStatus.choices
            if counts.get(status)
        ),
        overall=overall,
        revision_distribution=tuple(
            int(rows[0][_bucket(index)]) if rows else 0 for index in range(REVISION_BUCKETS)
        ),
        breakdowns=breakdowns,
    )
