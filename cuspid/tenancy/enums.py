"""Kinds of organisation, roles and connection states."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganizationKind(models.TextChoices):
    CLINIC = "clinic", _("Clinic")
    LAB = "lab", _("Dental lab")


class Role(models.TextChoices):
    """Roles a membership can hold (DESIGN.md). Reviewers and operators hold no membership."""

    ORG_ADMIN = "org_admin", _("Organization admin")
    CLINICIAN = "clinician", _("Clinician")
    STAFF = "staff", _("Staff")
    DESIGNER = "designer", _("Designer")
    LAB_STAFF = "lab_staff", _("Lab staff")
    PATIENT = "patient", _("Patient")


ROLES_BY_KIND: dict[str, frozenset[Role]] = {
    OrganizationKind.CLINIC: frozenset({Role.ORG_ADMIN, Role.CLINICIAN, Role.STAFF, Role.PATIENT}),
    OrganizationKind.LAB: frozenset({Role.ORG_ADMIN, Role.DESIGNER, Role.LAB_STAFF}),
}


class ConnectionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
