"""Random sequences of actions through the real case services and database.

A hypothesis state machine keeps its own model of one case (state, the lab it is shared with,
revisions since the last change request or sending) and predicts, from the role matrix and
the workflow table written out independently here, what each attempt must do: succeed, or
fail with which error. Every attempt is then checked against the database:

- on success, the case moved exactly as ``workflow.transition`` says, with exactly one
  timeline entry and one audit event per transition (two of each when a revision starts the
  design);
- on failure, the case row, its timeline, its revisions and its audit trail are unchanged.

After every step: the status is a legal state and the model's; the case is shared with a lab
exactly when the services say so (never in draft or declined, since declining and withdrawing
end the share; always from submitted to closed; when cancelled, with the lab that held it if
any) and only that lab sees it; every revision is what it was when stored, and its manifest
still matches its files; audited transitions and timeline transitions agree, action by action.

The services are durable transactions, so this runs on ``transactional_db`` (no test-wide
transaction). The organisations and members are made once; each example opens a new patient
and case with one generated scan, and revisions upload tiny meshes.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar
from uuid import UUID

import numpy as np
import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from PIL import Image

from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases import workflow
from cuspid.cases.approvals import CURRENT_STATEMENT_VERSION
from cuspid.cases.enums import TimelineEntry
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.files import UnsupportedFile
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import access_case
from cuspid.cases.services import Upload, case_send, case_transition, revision_create
from cuspid.cases.services.approvals import revision_approve
from cuspid.cases.workflow import Action, State
from cuspid.core import clock
from cuspid.core.errors import (
    CuspidError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StepUpRequired,
)
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus, Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import binary_stl
from tests.factories import make_lab, make_lab_connection, make_membership, make_organization
from tests.factories.cases import make_case, make_patient

# --- the specification, written out apart from the code under test ----------------------------

UPLOAD = "upload_revision"
SEND = "send"

# What each working role may do to a case its organisation holds (DESIGN.md role matrix).
CAN: dict[Role, frozenset[str]] = {
    Role.CLINICIAN: frozenset(
        {
            SEND,
            Action.REQUEST_CHANGES,
            Action.APPROVE,
            Action.CONFIRM_DELIVERY,
            Action.CLOSE,
            Action.CANCEL,
            Action.REVOKE_SHARE,
        }
    ),
    # Staff run the case but neither approve nor decide which lab holds it.
    Role.STAFF: frozenset(
        {Action.REQUEST_CHANGES, Action.CONFIRM_DELIVERY, Action.CLOSE, Action.CANCEL}
    ),
    Role.DESIGNER: frozenset(
        {Action.ACCEPT, Action.DECLINE, Action.START_DESIGN, Action.SEND_FOR_REVIEW, UPLOAD}
    ),
    Role.LAB_STAFF: frozenset(
        {Action.ACCEPT, Action.DECLINE, Action.START_PRODUCTION, Action.SHIP}
    ),
}

NEXT: dict[tuple[State, Action], State] = {
    (State.DRAFT, Action.SUBMIT): State.SUBMITTED,
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
}
WITH_LAB = (
    State.SUBMITTED,
    State.ACCEPTED,
    State.IN_DESIGN,
    State.AWAITING_REVIEW,
    State.CHANGES_REQUESTED,
)
for _state in (State.DRAFT, *WITH_LAB):
    NEXT[(_state, Action.CANCEL)] = State.CANCELLED
for _state in WITH_LAB:
    NEXT[(_state, Action.REVOKE_SHARE)] = State.DRAFT

# Where the lab holds the case once sent; draft and declined cases are nobody's but the clinic's.
HELD_BY_LAB = frozenset(
    {
        *WITH_LAB,
        State.APPROVED,
        State.IN_PRODUCTION,
        State.SHIPPED,
        State.DELIVERED,
        State.CLOSED,
    }
)
REVISIONS_OPEN = frozenset({State.ACCEPTED, State.IN_DESIGN, State.CHANGES_REQUESTED})
# Steps back to the clinic, which the progress rule takes now and then. (Cancelling ends the
# case; the random rule does that often enough.)
BACKWARD = frozenset({Action.REVOKE_SHARE, Action.DECLINE})
TRANSITION_AUDITS = frozenset(f"case:{action.value}" for action in Action)
APPROVED = AuditAction.Case.Approved.value

# --- the world: organisations and members, made once per test ----------------------------------


@dataclass(frozen=True)
class Member:
    """One acting member, and which organisation of the world they belong to."""

    actor: Actor
    org: str  # "clinic", "lab", "other_lab" or "pending_lab"

    @property
    def role(self) -> Role:
        return self.actor.role


@dataclass(frozen=True)
class World:
    clinic_member: Membership
    labs: dict[str, Organization]
    members: dict[str, Member]


def _fresh_actor(membership: Membership) -> Actor:
    return Actor.of(membership, authenticated_at=clock.now())


def make_world() -> World:
    clinic = make_organization(name="Random Clinic")
    labs = {name: make_lab(name=f"Random {name}") for name in ("lab", "other_lab", "pending_lab")}
    make_lab_connection(clinic=clinic, lab=labs["lab"])
    make_lab_connection(clinic=clinic, lab=labs["other_lab"])
    make_lab_connection(clinic=clinic, lab=labs["pending_lab"], status=ConnectionStatus.PENDING)
    clinician = make_membership(organization=clinic, role=Role.CLINICIAN)
    members = {
        "clinician": Member(_fresh_actor(clinician), "clinic"),
        # Signed in long ago (or by a token): may do everything but approve.
        "stale_clinician": Member(Actor.of(clinician, authenticated_at=None), "clinic"),
        "staff": Member(
            _fresh_actor(make_membership(organization=clinic, role=Role.STAFF)), "clinic"
        ),
        "designer": Member(
            _fresh_actor(make_membership(organization=labs["lab"], role=Role.DESIGNER)), "lab"
        ),
        "lab_staff": Member(
            _fresh_actor(make_membership(organization=labs["lab"], role=Role.LAB_STAFF)), "lab"
        ),
        "other_designer": Member(
            _fresh_actor(make_membership(organization=labs["other_lab"], role=Role.DESIGNER)),
            "other_lab",
        ),
        "other_lab_staff": Member(
            _fresh_actor(make_membership(organization=labs["other_lab"], role=Role.LAB_STAFF)),
            "other_lab",
        ),
        "pending_designer": Member(
            _fresh_actor(make_membership(organization=labs["pending_lab"], role=Role.DESIGNER)),
            "pending_lab",
        ),
    }
    return World(clinic_member=clinician, labs=labs, members=members)


MEMBER_NAMES = [
    "clinician",
    "stale_clinician",
    "staff",
    "designer",
    "lab_staff",
    "other_designer",
    "other_lab_staff",
    "pending_designer",
]
REASONS = ["", "   ", "Please open the distal contact."]


def mesh_bytes(size_mm: int) -> bytes:
    """A tetrahedron ``size_mm`` across as a binary STL: a valid, tiny scan."""
    size = float(size_mm)
    vertices = np.array([[0, 0, 0], [size, 0, 0], [0, size, 0], [0, 0, size]], dtype=np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int32)
    return binary_stl(vertices, faces)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (210, 190, 170)).save(out, format="PNG")
    return out.getvalue()


RevisionSnapshot = tuple[object, ...]


def snapshot(revision: Revision) -> RevisionSnapshot:
    """Everything stored about a revision and its files."""
    files = sorted(
        (str(f.id), f.sha256, f.size, str(f.blob_id), f.kind, f.file_format, f.filename)
        for f in revision.files.all()
    )
    return (
        revision.number,
        revision.manifest_sha256,
        revision.author_id,
        revision.organization_id,
        revision.case_id,
        revision.note,
        revision.created_at,
        revision.updated_at,
        tuple(files),
    )


# --- the machine -------------------------------------------------------------------------------

# What an attempt must do: succeed (None) or raise exactly this error.
Expected = type[CuspidError] | None
# A timeline row as (entry, from status, to status).
Entry = tuple[str, str, str]


class CaseWorkflowMachine(RuleBasedStateMachine):
    """One case, driven by random members doing random things."""

    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        patient = make_patient(self.world.clinic_member)
        self.case_id: UUID = make_case(self.world.clinic_member, patient).id
        self.patient_id = str(patient.id)
        # The model.
        self.state = State.DRAFT
        self.lab: str | None = None
        self.revisions_since_changes = 0
        self.revision_count = 0
        self.snapshots: dict[UUID, RevisionSnapshot] = {}
        self.last_audit = self._audit_head()
        self.event_count = CaseEvent.objects.filter(case_id=self.case_id).count()

    # -- reading the database ------------------------------------------------------------------

    def _case(self) -> Case:
        return Case.objects.select_related("organization", "shared_with_lab").get(pk=self.case_id)

    def _row(self) -> tuple[object, ...]:
        return tuple(
            Case.objects.filter(pk=self.case_id)
            .values_list("status", "shared_with_lab_id", "status_changed_at", "updated_at")
            .get()
        )

    def _audit_head(self) -> int:
        last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
        return last or 0

    def _new_audit(self) -> list[str]:
        """The case actions audited for this patient since the last look."""
        events = list(
            AuditEvent.objects.filter(
                sequence__gt=self.last_audit,
                subject_patient=self.patient_id,
                action__startswith="case:",
            ).order_by("sequence")
        )
        self.last_audit = self._audit_head()
        for event in events:
            if event.outcome == Outcome.DENIED:
                # A refused approval is audited, denied, naming the revision.
                assert (event.action, event.target_type) == (APPROVED, "revision")
                continue
            assert event.outcome == Outcome.ALLOWED
            if event.action == APPROVED:
                # An approval's event names the signed approval.
                assert event.target_type == "approval"
            elif event.action in TRANSITION_AUDITS:
                # A transition's event names the case itself.
                assert (event.target_type, event.target_id) == ("case", str(self.case_id))
        return [e.action if e.outcome == Outcome.ALLOWED else f"{e.action}:denied" for e in events]

    def _new_events(self) -> list[CaseEvent]:
        events = list(CaseEvent.objects.filter(case_id=self.case_id).order_by("created_at", "id"))
        new = events[self.event_count :]
        self.event_count = len(events)
        return new

    # -- the oracle ----------------------------------------------------------------------------

    def _sees(self, member: Member) -> bool:
        return member.org == "clinic" or member.org == self.lab

    def _expect_action(self, member: Member, action: str, reason: str) -> Expected:
        if action not in set(Action) or action == Action.SUBMIT:
            return InvalidInput
        step = Action(action)
        if step not in CAN[member.role] or not self._sees(member):
            return PermissionDenied
        if step in (Action.DECLINE, Action.REQUEST_CHANGES) and not reason.strip():
            return InvalidInput
        if step == Action.APPROVE and member.actor.authenticated_at is None:
            return StepUpRequired
        if (self.state, step) not in NEXT:
            return InvalidTransition
        if step == Action.SEND_FOR_REVIEW and self.revisions_since_changes == 0:
            return InvalidTransition
        return None

    def _expect_send(self, member: Member, lab: str) -> Expected:
        if SEND not in CAN[member.role]:
            return PermissionDenied
        if lab == "pending_lab":
            return NotFound
        if (self.state, Action.SUBMIT) not in NEXT:
            return InvalidTransition
        return None

    def _expect_upload(self, member: Member, files: list[bool]) -> Expected:
        if UPLOAD not in CAN[member.role] or not self._sees(member):
            return PermissionDenied
        if not files:
            return InvalidInput
        if self.state not in REVISIONS_OPEN:
            return InvalidTransition
        if not all(files):
            return UnsupportedFile
        return None

    # -- one attempt ---------------------------------------------------------------------------

    def _attempt(
        self,
        call: Callable[[], object],
        expected: Expected,
        entries: list[Entry],
        audits: list[str],
        denied: tuple[str, ...] = (),
    ) -> bool:
        """Run ``call``; check it did what the model expects, and nothing else.

        ``entries`` are the timeline rows a success adds, as (entry, from, to); ``audits`` the
        audit actions, in order; ``denied`` the denied audit events a refusal leaves.
        """
        before = self._row()
        revisions = Revision.objects.filter(case_id=self.case_id).count()
        attachments = Attachment.objects.filter(case_id=self.case_id).count()
        refused: CuspidError | None = None
        try:
            call()
        except CuspidError as exc:
            refused = exc
        if refused is not None:
            note(f"refused: {type(refused).__name__}: {refused.detail}")
            assert expected is not None, f"refused unexpectedly: {refused!r}"
            assert type(refused) is expected, f"expected {expected.__name__}, got {refused!r}"
            assert self._row() == before
            assert self._new_events() == []
            assert self._new_audit() == list(denied)
            assert Revision.objects.filter(case_id=self.case_id).count() == revisions
            assert Attachment.objects.filter(case_id=self.case_id).count() == attachments
            return False
        assert expected is None, f"expected {expected.__name__}, but it succeeded"
        assert [(e.entry, e.from_status, e.to_status) for e in self._new_events()] == entries
        assert self._new_audit() == audits
        return True

    def _moved(self, step: Action) -> State:
        before = self.state
        self.state = NEXT[(before, step)]
        assert (
            workflow.transition(
                before,
                step,
                workflow.CaseFacts(
                    has_scan=True,
                    has_lab=True,
                    revision_count=self.revision_count,
                    revisions_since_changes=self.revisions_since_changes,
                ),
            )
            == self.state
        )
        return self.state

    # -- rules ---------------------------------------------------------------------------------

    @rule(
        who=st.sampled_from(MEMBER_NAMES),
        kind=st.sampled_from(["act", "act", SEND, UPLOAD]),
        action=st.sampled_from([*[a.value for a in Action], "teleport"]),
        reason=st.sampled_from(REASONS),
        lab=st.sampled_from(["lab", "other_lab", "pending_lab"]),
        files=st.lists(st.booleans(), max_size=2),
        sizes=st.lists(st.integers(min_value=2, max_value=250), min_size=2, max_size=2),
    )
    def anything(
        self,
        who: str,
        kind: str,
        action: str,
        reason: str,
        lab: str,
        files: list[bool],
        sizes: list[int],
    ) -> None:
        """Any member tries anything: a workflow step, sending, or a revision (``True`` a mesh,
        ``False`` a photo)."""
        if kind == SEND:
            self._send(who, lab)
        elif kind == UPLOAD:
            self._upload(who, files, sizes, reason)
        else:
            self._act(who, action, reason)

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """A step that fits the case's state: mostly a forward step by someone who may take it
        (so deep states are reached), now and then a step back (declined or withdrawn), and
        now and then a fitting step tried by everyone in turn (so the role, side, reason and
        step-up checks meet the states where they matter; the random rule seldom finds
        those)."""
        mode = data.draw(st.sampled_from(["forward"] * 4 + ["back", "anyone"]), label="mode")
        if mode == "anyone":
            steps = [action for (state, action) in NEXT if state == self.state]
            if not steps:
                return
            step = data.draw(st.sampled_from(steps), label="step")
            reason = data.draw(st.sampled_from(REASONS), label="reason")
            lab = data.draw(st.sampled_from(["lab", "other_lab", "pending_lab"]), label="lab")
            # Everyone tries it in turn, until someone succeeds.
            for who in data.draw(st.permutations(MEMBER_NAMES), label="order"):
                if step == Action.SUBMIT:
                    done = self._send(who, lab)
                else:
                    done = self._act(who, step.value, reason)
                if done:
                    break
            return
        back = mode == "back"
        reason = REASONS[-1]
        # Who may take each fitting step; the step is drawn first, so that a step many roles
        # may take (asking for changes) is not favoured over one only a few may (approving).
        moves: dict[str, list[str]] = {}
        for who in MEMBER_NAMES:
            member = self.world.members[who]
            for action in Action:
                if (
                    action != Action.CANCEL
                    and (action in BACKWARD) == back
                    and self._expect_action(member, action, reason) is None
                ):
                    moves.setdefault(action.value, []).append(who)
            if not back and self._expect_send(member, "lab") is None:
                moves.setdefault(SEND, []).append(who)
            if not back and self._expect_upload(member, [True]) is None:
                moves.setdefault(UPLOAD, []).append(who)
        if not moves:
            return
        move = data.draw(st.sampled_from(sorted(moves)), label="move")
        who = data.draw(st.sampled_from(moves[move]), label="who")
        if move == SEND:
            self._send(who, data.draw(st.sampled_from(["lab", "other_lab"]), label="lab"))
        elif move == UPLOAD:
            self._upload(who, [True], [10, 20], "")
        else:
            self._act(who, move, reason)

    def _send(self, who: str, lab: str) -> bool:
        member = self.world.members[who]
        expected = self._expect_send(member, lab)
        lab_id = self.world.labs[lab].id
        done = self._attempt(
            lambda: case_send(actor=member.actor, case=self._case(), lab_id=lab_id),
            expected,
            [(Action.SUBMIT.value, self.state.value, State.SUBMITTED.value)],
            [AuditAction.Case.Submitted.value],
        )
        if done:
            self._moved(Action.SUBMIT)
            self.lab = lab
            # A lab the case is (re)sent to starts afresh: earlier revisions do not count.
            self.revisions_since_changes = 0
        return done

    def _act(self, who: str, action: str, reason: str) -> bool:
        member = self.world.members[who]
        expected = self._expect_action(member, action, reason)
        entries: list[Entry] = []
        audits: list[str] = []
        if expected is None:
            target = NEXT[(self.state, Action(action))]
            entries = [(action, self.state.value, target.value)]
            audits = [f"case:{action}"]

        def transition() -> object:
            return case_transition(
                actor=member.actor, case=self._case(), action=action, reason=reason
            )

        call: Callable[[], object] = transition
        denied: tuple[str, ...] = ()
        if action == Action.APPROVE:
            # Approving signs the latest revision (services.approvals); case_transition
            # refuses it, which is all there is to try before the first revision.
            latest = (
                Revision.objects.select_related("case")
                .filter(case_id=self.case_id)
                .order_by("-number")
                .first()
            )
            if latest is None:
                expected, entries, audits = InvalidInput, [], []
            else:
                call = partial(
                    revision_approve,
                    actor=member.actor,
                    revision=latest,
                    statement_version=CURRENT_STATEMENT_VERSION,
                )
                denied = (f"{APPROVED}:denied",)
        done = self._attempt(call, expected, entries, audits, denied)
        if done:
            step = Action(action)
            self._moved(step)
            if step in (Action.DECLINE, Action.REVOKE_SHARE):
                self.lab = None
            if step == Action.REQUEST_CHANGES:
                self.revisions_since_changes = 0
        return done

    def _upload(self, who: str, files: list[bool], sizes: list[int], note_text: str) -> None:
        member = self.world.members[who]
        expected = self._expect_upload(member, files)
        payloads = [
            mesh_bytes(sizes[index % len(sizes)]) if good else png_bytes()
            for index, good in enumerate(files)
        ]
        uploads = [
            Upload(file=io.BytesIO(payload), filename=f"design-{index}.stl")
            for index, payload in enumerate(payloads)
        ]
        starts = self.state != State.IN_DESIGN
        entries: list[Entry] = []
        audits: list[str] = []
        if starts:
            entries.append((Action.START_DESIGN.value, self.state.value, State.IN_DESIGN.value))
            audits.append(AuditAction.Case.DesignStarted.value)
        entries.append((TimelineEntry.REVISION_CREATED.value, "", ""))
        audits.append(AuditAction.Case.RevisionCreated.value)
        created: list[Revision] = []

        def call() -> None:
            created.append(
                revision_create(
                    actor=member.actor, case=self._case(), uploads=uploads, note=note_text
                )
            )

        if not self._attempt(call, expected, entries, audits):
            return
        if starts:
            self._moved(Action.START_DESIGN)
        self.revision_count += 1
        self.revisions_since_changes += 1
        [revision] = created
        stored = Revision.objects.get(pk=revision.pk)
        assert stored.number == self.revision_count
        assert sorted((f.sha256, f.size) for f in stored.files.all()) == sorted(
            (hashlib.sha256(p).hexdigest(), len(p)) for p in payloads
        )
        self.snapshots[stored.id] = snapshot(stored)

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def the_state_is_legal_and_the_models(self) -> None:
        case = self._case()
        assert case.status in {state.value for state in State}
        assert case.status == self.state

    @invariant()
    def the_case_is_shared_exactly_when_the_workflow_says(self) -> None:
        case = self._case()
        state = State(case.status)
        if state in (State.DRAFT, State.DECLINED):
            assert case.shared_with_lab_id is None
        elif state in HELD_BY_LAB:
            assert case.shared_with_lab_id is not None
        # A cancelled case stays with the lab that held it (or with nobody, if it never left).
        expected = self.world.labs[self.lab].id if self.lab else None
        assert case.shared_with_lab_id == expected

    @invariant()
    def only_the_lab_holding_the_case_sees_it(self) -> None:
        # One member per organisation: visibility is the organisation's.
        for who in ("clinician", "designer", "other_designer", "pending_designer"):
            member = self.world.members[who]
            try:
                access_case(member.actor, self.case_id)
                seen = True
            except NotFound:
                seen = False
            assert seen == self._sees(member), member.org

    @invariant()
    def revisions_never_change(self) -> None:
        stored = list(Revision.objects.filter(case_id=self.case_id).prefetch_related("files"))
        assert {r.id for r in stored} == set(self.snapshots)
        assert sorted(r.number for r in stored) == list(range(1, len(stored) + 1))
        for revision in stored:
            assert snapshot(revision) == self.snapshots[revision.id]
            assert revision.manifest_sha256 == manifest_sha256(
                (f.sha256, f.size) for f in revision.files.all()
            )

    @invariant()
    def audited_transitions_match_the_timeline(self) -> None:
        audited = Counter(
            AuditEvent.objects.filter(
                subject_patient=self.patient_id,
                action__in=TRANSITION_AUDITS,
                outcome=Outcome.ALLOWED,
            ).values_list("action", flat=True)
        )
        timeline = Counter(
            CaseEvent.objects.filter(
                case_id=self.case_id, entry__in=[a.value for a in Action]
            ).values_list("entry", flat=True)
        )
        assert audited == Counter({f"case:{entry}": n for entry, n in timeline.items()})


@pytest.mark.django_db(transaction=True)
def test_random_workflows_keep_every_case_consistent(transactional_db: None) -> None:
    CaseWorkflowMachine.world = make_world()
    run_state_machine_as_test(
        CaseWorkflowMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
