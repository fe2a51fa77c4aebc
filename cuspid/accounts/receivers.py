"""allauth.mfa's events → Cuspid's audit trail.

Signals are not how Cuspid wires its own domain (STYLE.md: "No signals as domain wiring"),
but allauth.mfa reports enrolment, removal, regeneration and use of authenticators *only*
through ``allauth.mfa.signals``: its adapter has no hook for them. So each receiver here
does nothing but hand the event to a service in ``cuspid.accounts.services.mfa``, which
audits it. ``AccountsConfig.ready`` connects them (one ``dispatch_uid`` each).
"""

from __future__ import annotations

from typing import Any

from allauth.mfa import signals
from allauth.mfa.models import Authenticator
from django.db.models.signals import pre_delete
from django.http import HttpRequest

from cuspid.accounts.models import User
from cuspid.accounts.services import mfa


def remember_deleted_pk(*, instance: Authenticator, **_: Any) -> None:
    """Django clears an instance's pk once it is deleted, and allauth signals the removal
    after that: keep the id so the audit event can name the authenticator."""
    # Read by services.mfa (an attribute allauth does not know about).
    instance.cuspid_deleted_pk = instance.pk


def on_authenticator_added(
    *, request: HttpRequest | None, user: User, authenticator: Authenticator, **_: Any
) -> None:
    mfa.mfa_authenticator_added(request=request, user=user, authenticator=authenticator)


def on_authenticator_removed(
    *, request: HttpRequest | None, user: User, authenticator: Authenticator, **_: Any
) -> None:
    mfa.mfa_authenticator_removed(request=request, user=user, authenticator=authenticator)


def on_authenticator_reset(
    *, request: HttpRequest | None, user: User, authenticator: Authenticator, **_: Any
) -> None:
    mfa.mfa_recovery_codes_regenerated(request=request, user=user, authenticator=authenticator)


def on_authenticator_used(
    *,
    request: HttpRequest | None,
    user: User,
    authenticator: Authenticator,
    passwordless: bool = False,
    **_: Any,
) -> None:
    mfa.mfa_authenticator_used(
        request=request, user=user, authenticator=authenticator, passwordless=passwordless
    )


def connect() -> None:
    """Connect the receivers (idempotent)."""
    pairs = (
        (signals.authenticator_added, on_authenticator_added),
        (signals.authenticator_removed, on_authenticator_removed),
        (signals.authenticator_reset, on_authenticator_reset),
        (signals.authenticator_used, on_authenticator_used),
    )
    for signal, receiver in pairs:
        signal.connect(receiver, dispatch_uid=f"cuspid.accounts.{receiver.__name__}")
    pre_delete.connect(
        remember_deleted_pk,
        sender=Authenticator,
        dispatch_uid="cuspid.accounts.remember_deleted_pk",
    )
