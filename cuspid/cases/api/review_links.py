"""``/api/v1`` operations: review links: one revision for someone without an account (issue 8)."""

from ninja import Router

router = Router(tags=["review links"])
