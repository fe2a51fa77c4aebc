"""The audit pages for organisation admins: search the trail, download it as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from cuspid.audit.actions import action_label
from cuspid.audit.chain import HASHED_FIELDS
from cuspid.audit.forms import AuditSearchForm
from cuspid.audit.models import AuditEvent
from cuspid.audit.policies import require_view_audit
from cuspid.audit.selectors import AuditFilters, actor_names_for, audit_event_list_for
from cuspid.audit.services import audit_event_export
from cuspid.core import clock
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.decorators import actor_required
from cuspid.tenancy.enums import Role
from cuspid.tenancy.requests import actor_from

PER_PAGE = 50
# Membership roles, plus the roles the access policy gives people without a membership
# (audit may not import access, which sits above it).
ROLE_LABELS = {
    **dict(Role.choices),
    "platform_operator": _("Platform operator"),
    "operator_break_glass": _("Platform operator (break-glass)"),
    "external_reviewer": _("External reviewer"),
}
CSV_COLUMNS = (*HASHED_FIELDS, "hash")
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@require_GET
@actor_required
def audit_event_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    require_view_audit(actor)
    form = AuditSearchForm(request.GET or None)
    page = None
    users = {}
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else AuditFilters()
        events = audit_event_list_for(actor=actor, filters=filters)
        page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
        users = actor_names_for(page.object_list)
    rows = [
        {
            "event": e,
            "user": users.get(e.actor_user_id) if e.actor_user_id is not None else None,
            "action": action_label(e.action),
            "role": ROLE_LABELS.get(e.actor_role, e.actor_role),
        }
        for e in (page.object_list if page is not None else [])
    ]
    return render(request, "audit/event_list.html", {"form": form, "page": page, "rows": rows})


class _Echo:
    """A file-like object whose ``write`` hands the line back, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_lines(events: Iterator[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        row = [getattr(event, name) for name in CSV_COLUMNS]
        row[CSV_COLUMNS.index("occurred_at")] = event.occurred_at.isoformat()
        yield writer.writerow([_cell(value) for value in row])


@require_GET
def audit_event_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    # Not @actor_required: that decorator is typed for HttpResponse, and this one streams.
    actor = actor_from(request)
    form = AuditSearchForm(request.GET)
    if not form.is_valid():
        raise InvalidInput
    events = audit_event_export(actor=actor, filters=form.filters(), request=request)
    response = StreamingHttpResponse(
        _csv_lines(events.iterator(chunk_size=2000)), content_type="text/csv; charset=utf-8"
    )
    filename = f"audit-{clock.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
