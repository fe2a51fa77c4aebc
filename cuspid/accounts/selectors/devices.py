"""Reads about the browsers a user signs in from (``Device``), and how to name them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from cuspid.accounts.models import Device, User
from cuspid.accounts.secrets import secret_digest
from cuspid.core import clock

# (marker in the user agent, name shown); the first match wins, so the order matters: Edge and
# Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Mac OS X", "macOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_label(user_agent: str) -> str:
    """A short, human name for a browser from its user agent: "Firefox on Windows".

    Deliberately simple (a few well-known markers): it helps a person recognise their own
    browsers; it is not used for any security decision.
    """
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def device_list_for(*, user: User) -> QuerySet[Device]:
    """The user's own devices, most recently used first (one query)."""
    return Device.objects.filter(user=user).order_by("-last_used_at")


def device_for_browser(*, user: User, browser_secret: str | None) -> Device | None:
    """The user's device known by this browser's cookie value, or ``None``."""
    if not browser_secret:
        return None
    return Device.objects.filter(user=user, token_hash=secret_digest(browser_secret)).first()


def device_is_trusted(device: Device | None, *, at: datetime | None = None) -> bool:
    """Whether the device's trust runs past ``at`` (now by default)."""
    if device is None or device.trusted_until is None:
        return False
    return device.trusted_until > (at or clock.now())


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One line of the devices page."""

    device: Device
    browser: str
    trusted: bool
    current: bool


def device_rows_for(*, user: User, browser_secret: str | None) -> list[DeviceRow]:
    """The devices page's rows: each device named, its trust, and which one is this browser."""
    current_hash = secret_digest(browser_secret) if browser_secret else None
    now = clock.now()
    return [
        DeviceRow(
            device=device,
            browser=browser_label(device.user_agent),
            trusted=device_is_trusted(device, at=now),
            current=device.token_hash == current_hash,
        )
        for device in device_list_for(user=user)
    ]
