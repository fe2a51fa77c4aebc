"""Choices for patient records."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    """Sex as recorded on the chart (sealed like every other identifying field)."""

    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    INTERSEX = "intersex", _("Intersex")
    UNDISCLOSED = "undisclosed", _("Not disclosed")


class PreferredLanguage(models.TextChoices):
    """The language the clinic writes to the patient in."""

    EN = "en", _("English")
    FR = "fr", _("French")
