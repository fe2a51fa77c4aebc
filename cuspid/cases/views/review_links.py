"""Pages: review links: one revision for someone without an account (issue 8)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import URLPattern

from cuspid.access.enforce import RouteActor
from cuspid.cases.models import Revision

urlpatterns: list[URLPattern] = []


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What this feature's panel on the revision review page needs (merged into its context)."""
    return {}
