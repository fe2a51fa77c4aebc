"""Ask the access policy from a template: ``{% if actor|may:"org:manage_members" %}``.

For links and buttons only; the route rules and services decide what actually happens.
"""

from __future__ import annotations

from django import template

from cuspid.access.permissions import Perm
from cuspid.access.policy import AnyActor, can

register = template.Library()


@register.filter
def may(actor: AnyActor | None, perm: str) -> bool:
    """Whether ``actor``'s role holds the permission named ``perm`` (``False`` for none)."""
    return actor is not None and can(actor, Perm(perm))
