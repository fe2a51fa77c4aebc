"""Break-glass grants: a platform operator's time-boxed, audited access to one organisation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from cuspid.core.models import BaseModel
from cuspid.tenancy.models import Organization

MAX_BREAK_GLASS_MINUTES = 60


class BreakGlassGrant(BaseModel):
    """One operator, one organisation, a stated reason, at most 60 minutes.

    Live from ``started_at`` until ``expires_at`` unless ``ended_at`` is set; ``ended_at`` is
    set (and the expiry audited) when the grant is found expired.
    """

    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass_grants"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="break_glass_grants"
    )
    reason = models.TextField(_("reason"))
    started_at = models.DateTimeField(_("started at"))
    expires_at = models.DateTimeField(_("expires at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("started_at")), name="access_break_glass_expires_later"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="access_break_glass_has_reason"),
        ]

    def __str__(self) -> str:
        return f"break-glass {self.operator_id} @ {self.organization_id}"
