"""The user, and what identity keeps about them: invitations, devices, API tokens.

Secrets (invitation and API tokens, device cookies) are stored only as SHA-256 hashes of
256-bit random values (``cuspid.accounts.secrets``); the plain value is shown once.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from cuspid.core.models import BaseModel


class UserManager(BaseUserManager["User"]):
    """Creates users with a normalised, case-insensitively unique email."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Organisation membership and role live in ``tenancy``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email address"), max_length=254)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=[("en", "English"), ("fr", "Français")],
        default="en",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)
    # Failed sign-ins in a row (reset by a success); at settings.CUSPID_HARD_LOCK_AFTER the
    # account is locked until an admin unlocks it.
    failed_sign_in_streak = models.PositiveIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name or str(self.id)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Invitation(BaseModel):
    """An organisation admin's invitation to join with a role; accepted once, within 72 hours.

    ``role`` holds a ``tenancy.enums.Role`` value (checked by the service that creates it).
    """

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+"
    )
    email = models.EmailField(_("email address"), max_length=254)
    role = models.CharField(_("role"), max_length=16)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(revoked_at__isnull=True),
                name="accounts_invitation_not_accepted_and_revoked",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.id}"


class Device(BaseModel):
    """A browser a user signed in from, known by a random cookie (stored hashed).

    A sign-in from a browser with no row here is a "new device" (the user is emailed). When
    the user ticks "trust this browser", ``trusted_until`` is set 30 days ahead and the second
    factor is skipped there until then, or until the trust is revoked.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    token_hash = models.CharField(max_length=64, editable=False)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    last_used_at = models.DateTimeField()
    trusted_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_used_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "token_hash"], name="accounts_device_one_per_user_cookie"
            ),
        ]

    def __str__(self) -> str:
        return f"device {self.id}"


class ApiToken(BaseModel):
    """A credential for an integration: ``cspd_`` + 256 random bits, shown once, kept hashed.

    Bound to one membership (it acts as that member, never beyond the member's role) and to
    scopes (``cuspid.accounts.enums.TokenScope``); it expires within a year.
    """

    membership = models.ForeignKey(
        "tenancy.Membership", on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters after the prefix, so people can tell their tokens apart.
    hint = models.CharField(max_length=12, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"API token {self.hint}"
