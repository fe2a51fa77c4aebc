"""Errors the key hierarchy raises on purpose."""

from __future__ import annotations

from cuspid.core.errors import CuspidError


class KeyDestroyed(CuspidError):
    """The owner's data key was destroyed (crypto-shredding): the data is gone for ever.

    Pages show it as deleted; nothing can open it again, not even from a backup.
    """

    status = 410
    code = "deleted"
    default_detail = "This record was deleted."
