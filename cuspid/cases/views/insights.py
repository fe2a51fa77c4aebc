"""Pages: workflow insights per organisation (issue 8).

``/insights/`` shows how long the organisation's cases take, for the cases opened in a
period: summary cards, a chart of cases by state, a chart and table of the median and 90th
percentile per stage, revisions per approved case, and breakdowns. ``/insights.csv``
downloads the same figures, one row per stage and group. No patient and no case appears;
the figures are defined in ``cuspid.cases.selectors.insights``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import floatformat
from django.urls import URLPattern, path
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from cuspid.access.enforce import RouteActor, acting_actor
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.charts import Bar, BarGroup, Series, bar_chart
from cuspid.cases.selectors.insights import (
    REVISION_BUCKETS,
    STAGES,
    GroupFigures,
    Insights,
    InsightsPeriod,
    Stage,
    insights_get_for,
    insights_period,
)
from cuspid.core.errors import InvalidInput

# What a spreadsheet would run as a formula if a cell started with it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InsightsPeriodForm(forms.Form):
    """The period's first and last day (both optional: the last 90 days by default)."""

    start = forms.DateField(
        label=gettext_lazy("Cases opened from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=gettext_lazy("to"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _period(
    request: HttpRequest, actor: RouteActor
) -> tuple[InsightsPeriodForm, InsightsPeriod | None]:
    """The form as asked, and the period it names (``None`` with the form's errors)."""
    if not request.GET:
        period = insights_period(actor=actor)
        return InsightsPeriodForm(initial={"start": period.start, "end": period.end}), period
    form = InsightsPeriodForm(request.GET)
    if not form.is_valid():
        return form, None
    try:
        period = insights_period(
            actor=actor, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
        )
    except InvalidInput as exc:
        form.add_error(None, exc.detail)
        return form, None
    return form, period


def _hours(value: float | None) -> str:
    if value is None:
        return _("no data")
    # floatformat rounds (number_format would cut the second decimal off).
    return _("%(hours)s h") % {"hours": floatformat(value, 1)}


@dataclass(frozen=True, slots=True)
class Charts:
    by_state: SafeString
    stages: SafeString


def _charts(insights: Insights) -> Charts:
    state_groups = [
        BarGroup(str(state.label), [Bar(state.count, str(state.count), "count")])
        for state in insights.by_state
    ]
    stage_groups = [
        BarGroup(
            str(figure.label),
            [
                Bar(figure.median_hours, _hours(figure.median_hours), "median"),
                Bar(figure.p90_hours, _hours(figure.p90_hours), "p90"),
            ],
        )
        for figure in insights.overall.stages
    ]
    return Charts(
        by_state=bar_chart(
            chart_id="chart-states",
            title=_("Cases by state"),
            description=_("How many of the period's cases are in each state."),
            groups=state_groups,
        ),
        stages=bar_chart(
            chart_id="chart-stages",
            title=_("Time per stage"),
            description=_("Median and 90th percentile, in hours, of the time each stage took."),
            groups=stage_groups,
            legend=[Series("median", _("Median")), Series("p90", _("90th percentile"))],
        ),
    )


@require_GET
def insights_page(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.InsightsView, actor.organization)
    form, period = _period(request, actor)
    context: dict[str, object] = {"form": form, "insights": None}
    if period is not None:
        insights = insights_get_for(actor=actor, period=period)
        total = insights.overall.stage(Stage.SUBMITTED_TO_SHIPPED)
        context |= {
            "insights": insights,
            "charts": _charts(insights),
            "total": total,
            "total_days": None if total.median_hours is None else total.median_hours / 24,
            "first_pass_percent": (
                None if (rate := insights.overall.first_pass_rate) is None else rate * 100
            ),
            "stage_labels": [spec.label for spec in STAGES],
            "distribution": [
                (f"{index + 1}" if index < REVISION_BUCKETS - 1 else f"{index + 1}+", cases)
                for index, cases in enumerate(insights.revision_distribution)
            ],
            "csv_query": request.GET.urlencode(),
        }
    return render(request, "cases/insights.html", context, status=200 if period else 422)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _decimal(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


CSV_HEADER = (
    "breakdown",
    "group",
    "stage",
    "cases_finished_stage",
    "median_hours",
    "p90_hours",
    "group_cases",
    "approved_cases",
    "first_pass_rate_percent",
    "mean_revisions",
)


def csv_rows(insights: Insights) -> Iterator[list[str]]:
    """The header, then one row per stage of every group (the whole organisation first)."""
    yield list(CSV_HEADER)
    groups: list[tuple[str, GroupFigures]] = [("all", insights.overall)]
    for breakdown in insights.breakdowns:
        groups += [(breakdown.dimension.value, group) for group in breakdown.groups]
    for dimension, group in groups:
        rate = None if group.first_pass_rate is None else group.first_pass_rate * 100
        for figure in group.stages:
            yield [
                _cell(value)
                for value in (
                    dimension,
                    str(group.label),
                    figure.stage.value,
                    figure.n,
                    _decimal(figure.median_hours, 1),
                    _decimal(figure.p90_hours, 1),
                    group.cases,
                    group.approved,
                    _decimal(rate, 1),
                    _decimal(group.revisions_mean, 2),
                )
            ]


@require_GET
def insights_csv(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.InsightsView, actor.organization)
    form, period = _period(request, actor)
    if period is None:
        problems = [str(error) for errors in form.errors.values() for error in errors]
        return HttpResponse(
            "\n".join(problems), status=422, content_type="text/plain; charset=utf-8"
        )
    insights = insights_get_for(actor=actor, period=period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="cuspid-insights-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"'
    )
    response["Cache-Control"] = "no-store"
    csv.writer(response).writerows(csv_rows(insights))
    return response


urlpatterns: list[URLPattern] = [
    path("insights/", insights_page, name="insights"),
    path("insights.csv", insights_csv, name="insights_csv"),
]
