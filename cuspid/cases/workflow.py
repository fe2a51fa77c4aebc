"""The case state machine, pure: no Django, no database, no clock.

A case moves draft → submitted → accepted → in_design → awaiting_review, back to in_design
through changes_requested as often as the clinic asks, then approved → in_production →
shipped → delivered → closed. A lab may decline a submitted case; the clinic may cancel a
case until it is approved, and may withdraw it from the lab (back to draft) until then too.
Each action belongs to one side: the clinic that owns the case or the lab it is shared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    IN_DESIGN = "in_design"
    AWAITING_REVIEW = "awaiting_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    IN_PRODUCTION = "in_production"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CLOSED = "closed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Action(StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    DECLINE = "decline"
    START_DESIGN = "start_design"
    SEND_FOR_REVIEW = "send_for_review"
    REQUEST_CHANGES = "request_changes"
    APPROVE = "approve"
    START_PRODUCTION = "start_production"
    SHIP = "ship"
    CONFIRM_DELIVERY = "confirm_delivery"
    CLOSE = "close"
    CANCEL = "cancel"
    REVOKE_SHARE = "revoke_share"


class Side(StrEnum):
    CLINIC = "clinic"
    LAB = "lab"


_WITH_LAB = (
    State.SUBMITTED,
    State.ACCEPTED,
    State.IN_DESIGN,
    State.AWAITING_REVIEW,
    State.CHANGES_REQUESTED,
)

TRANSITIONS: MappingProxyType[tuple[State, Action], State] = MappingProxyType(
    {
        (State.DRAFT, Action.SUBMIT): State.SUBMITTED,
        # Declined by one lab, the clinic sends it to another.
        (State.DECLINED, Action.SUBMIT): State.SUBMITTED,
        (State.SUBMITTED, Action.ACCEPT): State.ACCEPTED,
        (State.SUBMITTED, Action.DECLINE): State.DECLINED,
        (State.ACCEPTED, Action.START_DESIGN): State.IN_DESIGN,
        (State.CHANGES_REQUESTED, Action.START_DESIGN): State.IN_DESIGN,
        (State.IN_DESIGN, Action.SEND_FOR_REVIEW): State.AWAITING_REVIEW,
        (State.AWAITING_REVIEW, Action.REQUEST_CHANGES): State.CHANGES_REQUESTED,
        (State.AWAITING_REVIEW, Action.APPROVE): State.APPROVED,
        (State.APPROVED, Action.START_PRODUCTION): State.IN_PRODUCTION,
        (State.IN_PRODUCTION, Action.SHIP): State.SHIPPED,
        (State.SHIPPED, Action.CONFIRM_DELIVERY): State.DELIVERED,
        (State.DELIVERED, Action.CLOSE): State.CLOSED,
        **{(state, Action.CANCEL): State.CANCELLED for state in (State.DRAFT, *_WITH_LAB)},
        **{(state, Action.REVOKE_SHARE): State.DRAFT for state in _WITH_LAB},
    }
)

SIDES: MappingProxyType[Action, Side] = MappingProxyType(
    {
        Action.SUBMIT: Side.CLINIC,
        Action.ACCEPT: Side.LAB,
        Action.DECLINE: Side.LAB,
        Action.START_DESIGN: Side.LAB,
        Action.SEND_FOR_REVIEW: Side.LAB,
        Action.REQUEST_CHANGES: Side.CLINIC,
        Action.APPROVE: Side.CLINIC,
        Action.START_PRODUCTION: Side.LAB,
        Action.SHIP: Side.LAB,
        Action.CONFIRM_DELIVERY: Side.CLINIC,
        Action.CLOSE: Side.CLINIC,
        Action.CANCEL: Side.CLINIC,
        Action.REVOKE_SHARE: Side.CLINIC,
    }
)

# Actions that must say why: the other side reads the reason on the timeline.
REASON_REQUIRED = frozenset({Action.DECLINE, Action.REQUEST_CHANGES})

# Where the clinic may still add scans, photos and documents.
ATTACHMENTS_OPEN = frozenset({State.DRAFT, State.DECLINED, *_WITH_LAB})
# Where the clinic may still change what the case asks for: until a lab takes it into work.
DETAILS_OPEN = frozenset({State.DRAFT, State.SUBMITTED, State.DECLINED})
# Where the lab may upload a design revision (it starts the design when not started).
REVISIONS_OPEN = frozenset({State.ACCEPTED, State.IN_DESIGN, State.CHANGES_REQUESTED})
# Where a lab holds the case (and sees it) once it has been shared.
TERMINAL = frozenset({State.CLOSED, State.CANCELLED})


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the guards need to know about a case besides its state."""

    has_scan: bool = False
    has_lab: bool = False
    revision_count: int = 0
    revisions_since_changes: int = 0


class IllegalTransition(Exception):
    """The action is not allowed from this state (or its guard fails)."""

    def __init__(self, state: State, action: str, allowed: tuple[Action, ...], why: str) -> None:
        self.state = state
        self.action = action
        self.allowed = allowed
        self.why = why
        super().__init__(why)


def allowed_actions(state: State, side: Side | None = None) -> tuple[Action, ...]:
    """The actions the machine allows from ``state`` (for one side, given one), in order."""
    return tuple(
        action
        for action in Action
        if (state, action) in TRANSITIONS and (side is None or SIDES[action] == side)
    )


def _guard(action: Action, facts: CaseFacts) -> str:
    """Why the action cannot happen yet, or ``""``."""
    if action == Action.SUBMIT and not facts.has_scan:
        return "Add at least one intraoral scan before sending the case."
    if action == Action.SUBMIT and not facts.has_lab:
        return "Choose a connected lab to send the case to."
    if action == Action.SEND_FOR_REVIEW and facts.revisions_since_changes == 0:
        return "Upload a design revision before sending the case for review."
    return ""


def transition(state: State, action: str, facts: CaseFacts = CaseFacts()) -> State:
    """The state after ``action``; raises IllegalTransition with the allowed actions."""
    allowed = allowed_actions(state)
    try:
        known = Action(action)
    except ValueError:
        raise IllegalTransition(state, action, allowed, "Unknown action.") from None
    target = TRANSITIONS.get((state, known))
    if target is None:
        now, step = state.value.replace("_", " "), known.value.replace("_", " ")
        why = f"A case that is {now} cannot {step}."
        raise IllegalTransition(state, action, allowed, why)
    why = _guard(known, facts)
    if why:
        raise IllegalTransition(state, action, allowed, why)
    return target
