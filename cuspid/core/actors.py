"""Actors that are not a signed-in person. Background jobs never act as ``None``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SystemActor:
    """The platform itself acting, e.g. a scheduled job; ``reason`` says why (a short code)."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("A system actor needs a reason")
