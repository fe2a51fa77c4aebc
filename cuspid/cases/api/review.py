"""``/api/v1`` operations: pins, comments and @mentions on a revision (issue 8)."""

from ninja import Router

router = Router(tags=["review"])
