"""The pure case state machine: every (state, action) pair, the guards, sides and reachability."""

from __future__ import annotations

import itertools
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cuspid.cases import workflow
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.workflow import (
    ATTACHMENTS_OPEN,
    REASON_REQUIRED,
    REVISIONS_OPEN,
    SIDES,
    TERMINAL,
    TRANSITIONS,
    Action,
    CaseFacts,
    IllegalTransition,
    Side,
    State,
    allowed_actions,
    transition,
)

# Facts under which no guard refuses anything: what is left is the table itself.
READY = CaseFacts(has_scan=True, has_lab=True, revision_count=1, revisions_since_changes=1)

PAIRS = list(itertools.product(State, Action))


def _successors(state: State) -> set[State]:
    return {target for (source, _action), target in TRANSITIONS.items() if source == state}


def _reachable_from(start: State) -> set[State]:
    seen = {start}
    queue = deque([start])
    while queue:
        for target in _successors(queue.popleft()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


# --- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_every_pair_is_either_in_the_table_or_refused_with_the_allowed_actions(
    state: State, action: Action
) -> None:
    if (state, action) in TRANSITIONS:
        assert transition(state, action, READY) == TRANSITIONS[(state, action)]
        assert action in allowed_actions(state)
        return
    with pytest.raises(IllegalTransition) as refused:
        transition(state, action, READY)
    assert refused.value.state == state
    assert refused.value.action == action
    assert refused.value.allowed == allowed_actions(state)
    assert action not in refused.value.allowed
    assert refused.value.why


def test_transition_accepts_the_action_as_plain_text() -> None:
    assert transition(State.SUBMITTED, "accept") == State.ACCEPTED


def test_the_table_holds_only_known_states_and_actions() -> None:
    for (state, action), target in TRANSITIONS.items():
        assert isinstance(state, State)
        assert isinstance(action, Action)
        assert isinstance(target, State)


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(State.CLOSED, Action.SUBMIT)] = State.DRAFT  # type: ignore[index]  # the point: read-only


def test_every_action_is_used_by_at_least_one_transition() -> None:
    assert {action for _state, action in TRANSITIONS} == set(Action)


# --- unknown actions ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", ["teleport", "", "SUBMIT", "submit ", "approve;drop"])
def test_an_unknown_action_is_refused_with_the_allowed_actions(state: State, action: str) -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(state, action, READY)
    assert refused.value.why == "Unknown action."
    assert refused.value.action == action
    assert refused.value.allowed == allowed_actions(state)


@given(st.text(max_size=30).filter(lambda text: text not in set(Action)))
def test_no_other_text_is_an_action(text: str) -> None:
    with pytest.raises(IllegalTransition):
        transition(State.DRAFT, text, READY)


# --- guards ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.DRAFT, State.DECLINED])
def test_submit_needs_a_scan(state: State) -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(state, Action.SUBMIT, CaseFacts(has_scan=False, has_lab=True))
    assert "scan" in refused.value.why
    assert refused.value.allowed == allowed_actions(state)


@pytest.mark.parametrize("state", [State.DRAFT, State.DECLINED])
def test_submit_needs_a_lab(state: State) -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(state, Action.SUBMIT, CaseFacts(has_scan=True, has_lab=False))
    assert "lab" in refused.value.why


@pytest.mark.parametrize("state", [State.DRAFT, State.DECLINED])
def test_submit_with_a_scan_and_a_lab_is_submitted(state: State) -> None:
    assert transition(state, Action.SUBMIT, CaseFacts(has_scan=True, has_lab=True)) == (
        State.SUBMITTED
    )


def test_the_default_facts_satisfy_no_guard() -> None:
    with pytest.raises(IllegalTransition):
        transition(State.DRAFT, Action.SUBMIT)
    with pytest.raises(IllegalTransition):
        transition(State.IN_DESIGN, Action.SEND_FOR_REVIEW)


def test_send_for_review_needs_a_revision_since_the_last_change_request() -> None:
    # Older revisions do not count: the clinic asked for changes after them.
    stale = CaseFacts(has_scan=True, has_lab=True, revision_count=3, revisions_since_changes=0)
    with pytest.raises(IllegalTransition) as refused:
        transition(State.IN_DESIGN, Action.SEND_FOR_REVIEW, stale)
    assert "revision" in refused.value.why
    assert refused.value.allowed == allowed_actions(State.IN_DESIGN)
    fresh = CaseFacts(has_scan=True, has_lab=True, revision_count=4, revisions_since_changes=1)
    assert transition(State.IN_DESIGN, Action.SEND_FOR_REVIEW, fresh) == State.AWAITING_REVIEW


@pytest.mark.parametrize(
    ("state", "action"),
    [(s, a) for (s, a) in TRANSITIONS if a not in (Action.SUBMIT, Action.SEND_FOR_REVIEW)],
)
def test_other_actions_have_no_guard(state: State, action: Action) -> None:
    assert transition(state, action, CaseFacts()) == TRANSITIONS[(state, action)]


def test_the_table_is_checked_before_the_guards() -> None:
    # A submitted case without a scan cannot be submitted again: the reason is the state.
    with pytest.raises(IllegalTransition) as refused:
        transition(State.SUBMITTED, Action.SUBMIT, CaseFacts())
    assert "scan" not in refused.value.why
    assert "submitted" in refused.value.why


# --- reachability and ends ---------------------------------------------------------------------


def test_every_state_is_reachable_from_draft() -> None:
    assert _reachable_from(State.DRAFT) == set(State)


@pytest.mark.parametrize("state", sorted(set(State) - TERMINAL))
def test_every_open_state_can_still_end(state: State) -> None:
    assert _reachable_from(state) & TERMINAL


@pytest.mark.parametrize("state", [State.CLOSED, State.CANCELLED])
def test_closed_and_cancelled_allow_nothing(state: State) -> None:
    assert allowed_actions(state) == ()
    assert allowed_actions(state, Side.CLINIC) == ()
    assert allowed_actions(state, Side.LAB) == ()


def test_only_the_terminal_states_have_no_way_out() -> None:
    assert {state for state in State if not allowed_actions(state)} == set(TERMINAL)
    assert set(TERMINAL) == {State.CLOSED, State.CANCELLED}


def test_the_happy_path_ends_closed() -> None:
    state = State.DRAFT
    for action in (
        Action.SUBMIT,
        Action.ACCEPT,
        Action.START_DESIGN,
        Action.SEND_FOR_REVIEW,
        Action.REQUEST_CHANGES,
        Action.START_DESIGN,
        Action.SEND_FOR_REVIEW,
        Action.APPROVE,
        Action.START_PRODUCTION,
        Action.SHIP,
        Action.CONFIRM_DELIVERY,
        Action.CLOSE,
    ):
        state = transition(state, action, READY)
    assert state == State.CLOSED


@pytest.mark.parametrize(
    "state", [State.SUBMITTED, State.ACCEPTED, State.IN_DESIGN, State.AWAITING_REVIEW]
)
def test_the_clinic_can_withdraw_and_cancel_until_approved(state: State) -> None:
    assert transition(state, Action.REVOKE_SHARE) == State.DRAFT
    assert transition(state, Action.CANCEL) == State.CANCELLED


@pytest.mark.parametrize(
    "state", [State.APPROVED, State.IN_PRODUCTION, State.SHIPPED, State.DELIVERED]
)
def test_after_approval_nobody_cancels_or_withdraws(state: State) -> None:
    for action in (Action.CANCEL, Action.REVOKE_SHARE):
        with pytest.raises(IllegalTransition):
            transition(state, action, READY)


# --- sides -------------------------------------------------------------------------------------


def test_each_action_has_exactly_one_side() -> None:
    assert set(SIDES) == set(Action)
    assert all(isinstance(side, Side) for side in SIDES.values())


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("side", list(Side))
def test_allowed_actions_for_a_side_filters_by_side(state: State, side: Side) -> None:
    mine = allowed_actions(state, side)
    assert mine == tuple(action for action in allowed_actions(state) if SIDES[action] == side)
    assert all(SIDES[action] == side for action in mine)


@pytest.mark.parametrize("state", list(State))
def test_the_two_sides_share_out_the_allowed_actions(state: State) -> None:
    clinic = set(allowed_actions(state, Side.CLINIC))
    lab = set(allowed_actions(state, Side.LAB))
    assert not clinic & lab
    assert clinic | lab == set(allowed_actions(state))


@pytest.mark.parametrize("state", list(State))
def test_allowed_actions_come_in_declaration_order(state: State) -> None:
    order = list(Action)
    allowed = allowed_actions(state)
    assert list(allowed) == sorted(allowed, key=order.index)


def test_the_lab_answers_a_submitted_case() -> None:
    assert allowed_actions(State.SUBMITTED, Side.LAB) == (Action.ACCEPT, Action.DECLINE)
    assert allowed_actions(State.AWAITING_REVIEW, Side.CLINIC) == (
        Action.REQUEST_CHANGES,
        Action.APPROVE,
        Action.CANCEL,
        Action.REVOKE_SHARE,
    )


# --- the other sets ----------------------------------------------------------------------------


def test_decline_and_request_changes_need_a_reason() -> None:
    assert {Action.DECLINE, Action.REQUEST_CHANGES} == REASON_REQUIRED


def test_revisions_are_open_only_where_the_lab_designs() -> None:
    assert {State.ACCEPTED, State.IN_DESIGN, State.CHANGES_REQUESTED} == REVISIONS_OPEN
    # The lab can design there: each of these states leads to (or is) in_design.
    for state in REVISIONS_OPEN - {State.IN_DESIGN}:
        assert transition(state, Action.START_DESIGN) == State.IN_DESIGN


def test_attachments_close_at_approval() -> None:
    assert State.APPROVED not in ATTACHMENTS_OPEN
    assert not ATTACHMENTS_OPEN & TERMINAL
    assert {State.DRAFT, State.DECLINED, State.SUBMITTED} <= ATTACHMENTS_OPEN
    # Where the clinic may add files, it may also still withdraw or cancel the case.
    for state in ATTACHMENTS_OPEN - {State.DECLINED}:
        assert Action.CANCEL in allowed_actions(state, Side.CLINIC)


# --- property: random walks --------------------------------------------------------------------


@given(
    st.lists(st.sampled_from(list(Action)), max_size=40),
    st.builds(
        CaseFacts,
        has_scan=st.booleans(),
        has_lab=st.booleans(),
        revision_count=st.integers(0, 3),
        revisions_since_changes=st.integers(0, 3),
    ),
)
def test_random_walks_stay_legal(actions: list[Action], facts: CaseFacts) -> None:
    state = State.DRAFT
    for action in actions:
        before = state
        refused: IllegalTransition | None = None
        try:
            state = transition(state, action, facts)
        except IllegalTransition as exc:
            refused = exc
        if refused is not None:
            assert refused.allowed == allowed_actions(before)
            assert state == before
            continue
        assert state == TRANSITIONS[(before, action)]
        assert action in allowed_actions(before)
        assert isinstance(state, State)


# --- the 409 error -----------------------------------------------------------------------------


def test_invalid_transition_says_the_state_and_the_allowed_actions() -> None:
    error = InvalidTransition(
        "No.", State.SUBMITTED, workflow.allowed_actions(State.SUBMITTED, Side.LAB)
    )
    assert error.status == 409
    assert error.code == "invalid_transition"
    assert error.body() == {
        "detail": "No.",
        "code": "invalid_transition",
        "status": "submitted",
        "allowed_actions": ["accept", "decline"],
    }
