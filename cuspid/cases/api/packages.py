"""``/api/v1`` operations: production packages of an approved revision (issue 8)."""

from ninja import Router

router = Router(tags=["production"])
