"""Abstract base models shared by every app."""

from __future__ import annotations

import uuid

from django.db import models


class BaseModel(models.Model):
    """UUID primary key (never guessable, never sequential) and creation/update times."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
