"""Domain errors. The API and the pages map each to one status and one stable ``code``."""

from __future__ import annotations


class CuspidError(Exception):
    """Base of every error a service, selector or policy raises on purpose."""

    status = 400
    code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    def body(self) -> dict[str, object]:
        """What the API answers: ``detail`` and ``code``, plus what a subclass adds."""
        return {"detail": self.detail, "code": self.code}


class NotFound(CuspidError):
    """The object does not exist *or* the actor may not know it exists (same answer)."""

    status = 404
    code = "not_found"
    default_detail = "Not found."


class PermissionDenied(CuspidError):
    """The actor can see the object but their role may not perform this action."""

    status = 403
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class NotAuthenticated(CuspidError):
    status = 401
    code = "not_authenticated"
    default_detail = "Authentication required."


class InvalidInput(CuspidError):
    status = 422
    code = "invalid"
    default_detail = "The input is not valid."


class Conflict(CuspidError):
    """The change does not fit the object's current state (an illegal transition)."""

    status = 409
    code = "conflict"
    default_detail = "This change does not fit the current state."


class StepUpRequired(CuspidError):
    """The action needs a recent full authentication (ASVS V7.5); the user re-authenticates
    and comes back. Pages redirect to the step-up page; the API answers 401 with this code."""

    status = 401
    code = "step_up_required"
    default_detail = "Confirm your identity again to continue."
