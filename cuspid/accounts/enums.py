"""Choices that identity records use."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenScope(models.TextChoices):
    """What an API token may do, on top of what its membership's role allows."""

    CASES_READ = "cases:read", _("Read cases")
    CASES_WRITE = "cases:write", _("Create and change cases")
    PATIENTS_READ = "patients:read", _("Read patients")
    EXPORTS_READ = "exports:read", _("Download exports")
