"""Authenticator-app codes for browser tests, computed from a known secret like an app would."""

from __future__ import annotations

import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

PERIOD = 30
# A code typed in the last seconds of its 30-second step could reach the server in the next
# step, where it is no longer valid (no tolerance): wait for the next step instead.
MARGIN = 4


def fresh_totp_code(secret: str, *, not_in_step: int | None = None) -> tuple[str, int]:
    """A code that stays valid for at least ``MARGIN`` seconds, and its time step.

    ``not_in_step``: a step whose code was already used (codes are single use), so wait for
    the next one. Browser tests run against a live server, where the clock cannot be
    pinned; waiting at most one step is the price.
    """
    while True:
        now = time.time()
        step = int(now) // PERIOD
        if PERIOD - (now % PERIOD) > MARGIN and step != not_in_step:
            return format_hotp_value(hotp_value(secret, step)), step
        time.sleep(0.5)
