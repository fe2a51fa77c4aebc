"""``/api/v1`` operations: two revisions compared: a per-vertex distance map (issue 8)."""

from ninja import Router

router = Router(tags=["compare"])
