"""The client IP is read once, the same way, for throttles, audit and sessions."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from cuspid.core.http import client_ip


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        # No proxy: the socket's address; a forged header is ignored.
        (0, "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # One proxy: the address it appended (the right-most); entries to its left are the
        # client's own claims and are not trusted.
        (1, "10.0.0.2", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (2, "10.0.0.2", "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        # Fewer hops than proxies: nothing trustworthy.
        (2, "10.0.0.2", "203.0.113.7", ""),
        # A proxy configured but no header (a health check from inside): the socket.
        (1, "10.0.0.2", "", "10.0.0.2"),
        # Garbage is no address.
        (0, "not-an-ip", "", ""),
        (1, "10.0.0.2", "unknown", ""),
    ],
)
def test_client_ip_trusts_exactly_the_configured_proxies(
    proxies: int, remote: str, forwarded: str, expected: str
) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    with override_settings(CUSPID_TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request) == expected
