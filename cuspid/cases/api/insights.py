"""``/api/v1`` operations: workflow insights per organisation (issue 8).

Counts, durations and rates of the active organisation's cases; no patient, no case. The
route guard has checked ``Perm.InsightsView``; the figures are defined in
``cuspid.cases.selectors.insights``.
"""

# No ``from __future__ import annotations``: ninja reads the operations' annotations at run
# time.

from django.http import HttpRequest
from ninja import Query, Router

from cuspid.access.enforce import acting_actor
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.schemas.insights import InsightsOut, InsightsQuery
from cuspid.cases.selectors.insights import Insights, insights_get_for, insights_period
from cuspid.patients.api import WRITE_ERRORS

router = Router(tags=["insights"])


@router.get(
    "/insights",
    # A period that is too long or backwards answers 422, like a bad write.
    response={200: InsightsOut, **WRITE_ERRORS},
    operation_id="insights_get",
)
def insights_get_api(request: HttpRequest, filters: Query[InsightsQuery]) -> Insights:
    """How long the organisation's cases take, for the cases opened in a period (default:
    the last 90 days).

    Cases by state; per stage (sent → accepted, accepted → first revision, review →
    approval, approval → shipped, and sent → shipped) the number of cases that finished it
    with their median and 90th percentile in hours; revisions per approved case and the
    first-pass approval rate; the same broken down by lab (a clinic) or clinic (a lab), by
    clinician, designer and case type. A clinic counts its own cases, a lab the cases shared
    with it now.
    """
    actor = acting_actor(request)
    require(actor, Perm.InsightsView, actor.organization)
    period = insights_period(actor=actor, start=filters.start, end=filters.end)
    return insights_get_for(actor=actor, period=period)
