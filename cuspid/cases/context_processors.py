"""The mentions inbox in the main navigation: whether to show it, and the unread count."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.cases.selectors.review import mention_unread_count
from cuspid.tenancy.actor import Actor


def mentions(request: HttpRequest) -> dict[str, object]:
    """``mention_inbox`` for members who take part in cases (their role reads cases), and
    ``mention_unread``: their unread mentions in the organisation they act in, counted
    (one query) only when a template shows it."""
    actor = getattr(request, "actor", None)
    if not isinstance(actor, Actor) or not can(actor, Perm.CaseView):
        return {}
    return {
        "mention_inbox": True,
        "mention_unread": SimpleLazyObject(lambda: mention_unread_count(actor=actor)),
    }
