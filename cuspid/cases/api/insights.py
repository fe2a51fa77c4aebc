"""``/api/v1`` operations: workflow insights per organisation (issue 8)."""

from ninja import Router

router = Router(tags=["insights"])
