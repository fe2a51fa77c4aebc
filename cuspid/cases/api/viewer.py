"""``/api/v1`` operations: the 3D review page of a revision and the meshes it streams (issue 8)."""

from ninja import Router

router = Router(tags=["viewer"])
