"""Facts about the HTTP client that every app reads the same way."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's IP address, or ``""`` when it is not a valid address.

    Behind ``CUSPID_TRUSTED_PROXY_COUNT`` proxies (production sits behind one), the address is
    the one the outermost trusted proxy saw, read from ``X-Forwarded-For`` counting from the
    right; entries further left are client-supplied and never trusted. With no proxy, the
    socket's address. allauth's throttles use the same rule (``ALLAUTH_TRUSTED_PROXY_COUNT``).
    """
    raw = request.META.get("REMOTE_ADDR", "")
    count = settings.CUSPID_TRUSTED_PROXY_COUNT
    forwarded = request.headers.get("X-Forwarded-For", "")
    if count > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        raw = hops[-count] if len(hops) >= count else ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return ""
