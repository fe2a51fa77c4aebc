"""Errors of the case workflow, with what a client needs to recover."""

from __future__ import annotations

from cuspid.cases.workflow import Action, State
from cuspid.core.errors import Conflict


class InvalidTransition(Conflict):
    """409: the action does not fit the case's state; says the state and what is allowed."""

    code = "invalid_transition"

    def __init__(self, detail: str, state: State, allowed: tuple[Action, ...]) -> None:
        super().__init__(detail)
        self.state = state
        self.allowed = allowed

    def body(self) -> dict[str, object]:
        return {
            **super().body(),
            "status": self.state.value,
            "allowed_actions": [action.value for action in self.allowed],
        }
