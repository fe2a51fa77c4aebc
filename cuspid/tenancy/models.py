"""Organisations, memberships and clinic-lab connections."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cuspid.core.models import BaseModel
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role


class Organization(BaseModel):
    """A tenant: a dental clinic or a dental lab."""

    kind = models.CharField(_("kind"), max_length=16, choices=OrganizationKind.choices)
    name = models.CharField(_("name"), max_length=200)
    country = models.CharField(_("country"), max_length=2, help_text="ISO 3166-1 alpha-2")
    region = models.CharField(
        _("province or state"), max_length=8, help_text="ISO 3166-2 subdivision code"
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="America/Toronto")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=OrganizationKind.values), name="tenancy_org_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_clinic(self) -> bool:
        return self.kind == OrganizationKind.CLINIC


class Membership(BaseModel):
    """A user's role in one organisation. A user may hold memberships in several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["organization__name", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="tenancy_membership_one_per_org"
            ),
            models.CheckConstraint(
                condition=Q(role__in=Role.values), name="tenancy_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} @ {self.organization_id}"


class LabConnection(BaseModel):
    """A clinic works with a lab. Cases can be shared only over an active connection."""

    clinic = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="lab_connections"
    )
    lab = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="clinic_connections"
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ConnectionStatus.choices,
        default=ConnectionStatus.PENDING,
    )

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "lab"], name="tenancy_connection_unique"),
            models.CheckConstraint(
                condition=~Q(clinic=models.F("lab")), name="tenancy_connection_distinct"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic_id} -> {self.lab_id} ({self.status})"
