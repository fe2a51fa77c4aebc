"""``/api/v1`` operations: signed approvals of a revision and production packages (issue 8)."""

from ninja import Router

router = Router(tags=["approvals"])
