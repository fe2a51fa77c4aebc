"""API shapes for workflow insights: counts, durations and rates, never a patient or a case.

Durations are hours (unrounded); rates are shares between 0 and 1. Groups are named by
members' and organisations' names. ``cuspid.cases.selectors.insights`` defines every figure.
"""

from __future__ import annotations

import datetime

from ninja import Field, Schema

from cuspid.cases.enums import CaseStatus
from cuspid.cases.selectors.insights import (
    DEFAULT_DAYS,
    MAX_DAYS,
    REVISION_BUCKETS,
    Breakdown,
    Dimension,
    GroupFigures,
    Insights,
    InsightsPeriod,
    Stage,
    StageFigure,
    StateCount,
)


class InsightsQuery(Schema):
    """The period: cases opened from ``start`` to ``end`` inclusive (the organisation's
    dates)."""

    start: datetime.date | None = Field(
        None,
        description=f"First day; default {DEFAULT_DAYS - 1} days before the end.",
    )
    end: datetime.date | None = Field(
        None,
        description=f"Last day; default today (or {DEFAULT_DAYS - 1} days after the start). "
        f"At most {MAX_DAYS} days in all.",
    )


class InsightsPeriodOut(Schema):
    start: datetime.date = Field(..., description="First day, inclusive.")
    end: datetime.date = Field(..., description="Last day, inclusive.")
    days: int
    time_zone: str = Field(..., description="The organisation's time zone the days are in.")
    basis: str = Field("case_created", description="Cases are counted by the day they were opened.")

    @staticmethod
    def resolve_basis(obj: InsightsPeriod) -> str:
        return "case_created"


class StateCountOut(Schema):
    status: CaseStatus
    label: str
    count: int

    @staticmethod
    def resolve_label(obj: StateCount) -> str:
        return str(obj.label)


class StageFigureOut(Schema):
    stage: Stage
    label: str
    n: int = Field(..., description="Cases that finished the stage.")
    median_hours: float | None = Field(..., description="Median, in hours; null when n = 0.")
    p90_hours: float | None = Field(
        ...,
        description="90th percentile (linear interpolation between the closest ranks), in "
        "hours; null when n = 0.",
    )

    @staticmethod
    def resolve_label(obj: StageFigure) -> str:
        return str(obj.label)


class GroupFiguresOut(Schema):
    key: str | None = Field(
        ...,
        description="The group's id (lab, clinic or member) or case type; null for the "
        "whole organisation and for cases without a value (no lab, no revision yet).",
    )
    label: str
    cases: int = Field(..., description="Cases sent to a lab.")
    approved: int = Field(..., description="Cases approved.")
    approved_first_pass: int = Field(..., description="Cases approved without any change request.")
    first_pass_rate: float | None = Field(
        ..., description="approved_first_pass / approved; null without approved cases."
    )
    mean_revisions: float | None = Field(
        ..., description="Design revisions per approved case; null without approved cases."
    )
    stages: list[StageFigureOut]

    @staticmethod
    def resolve_label(obj: GroupFigures) -> str:
        return str(obj.label)

    @staticmethod
    def resolve_approved_first_pass(obj: GroupFigures) -> int:
        return obj.first_pass

    @staticmethod
    def resolve_mean_revisions(obj: GroupFigures) -> float | None:
        return obj.revisions_mean


class BreakdownOut(Schema):
    dimension: Dimension
    label: str
    groups: list[GroupFiguresOut]

    @staticmethod
    def resolve_label(obj: Breakdown) -> str:
        return str(obj.label)


class RevisionBucketOut(Schema):
    revisions: str = Field(..., description='"1", "2", "3" or "4+".')
    cases: int = Field(..., description="Approved cases that needed that many revisions.")


class InsightsOut(Schema):
    """The workflow figures of the active organisation for one period."""

    period: InsightsPeriodOut
    cases: int = Field(..., description="Cases opened in the period.")
    open_cases: int = Field(..., description="Of those, sent to a lab and not yet shipped.")
    by_state: list[StateCountOut]
    overall: GroupFiguresOut = Field(..., description="Every case of the period sent to a lab.")
    revision_distribution: list[RevisionBucketOut]
    breakdowns: list[BreakdownOut] = Field(
        ...,
        description="By lab (a clinic) or clinic (a lab), by clinician, designer and case type.",
    )

    @staticmethod
    def resolve_revision_distribution(obj: Insights) -> list[dict[str, object]]:
        return [
            {
                "revisions": f"{index + 1}" if index < REVISION_BUCKETS - 1 else f"{index + 1}+",
                "cases": cases,
            }
            for index, cases in enumerate(obj.revision_distribution)
        ]
