"""Pages for cases: the list (a lab's inbox), a new case in three steps, the case page with
its files, revisions, timeline and workflow buttons, and file downloads.

Each view takes the actor (``acting_actor``), finds the case with ``access_case`` (the same
404 for absent and foreign), names the case's patient for the audited read, checks the role's
permission with ``require`` and calls a selector or a service. Changes need a member
(``Actor``): a break-glass operator only reads. A lab's pages never show who the patient is.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cuspid.access.enforce import RouteActor, acting_actor, member_of
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require
from cuspid.cases import workflow
from cuspid.cases.downloads import attachment_response
from cuspid.cases.enums import CaseAction, CaseStatus, TimelineEntry
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.forms import (
    AttachmentUploadForm,
    CaseDetailsForm,
    CaseNewForm,
    CaseSendForm,
    CaseTransitionForm,
    RevisionForm,
)
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import access_attachment, access_case, access_revision, side_of
from cuspid.cases.selectors import (
    attachment_list_for,
    case_count_by_status,
    case_list_for,
    case_timeline_for,
    revision_list_for,
)
from cuspid.cases.services import (
    ACTION_PERMS,
    attachment_add,
    case_create,
    case_send,
    case_transition,
    case_update,
    revision_create,
)
from cuspid.cases.views import suggestions
from cuspid.cases.workflow import Action, Side, State
from cuspid.core.errors import (
    CuspidError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    StepUpRequired,
)
from cuspid.keys.fields import preload_keys
from cuspid.patients.policies import access_patient
from cuspid.patients.selectors import patient_list_for
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus
from cuspid.tenancy.selectors import lab_connection_list_for

PER_PAGE = 25
INBOX = State.SUBMITTED.value
ALL = "all"
# Errors that are not about the input: they keep their own pages (403, 404, sign-in, step-up).
_NOT_INPUT_ERRORS = (PermissionDenied, NotFound, NotAuthenticated, StepUpRequired)
# Where the clinic may still change what it asked for. The service decides (case_update);
# this only chooses whether the page offers the link.
# Where step 3 (send to a lab) applies.
_SENDABLE = frozenset({State.DRAFT, State.DECLINED})
# Workflow steps that end the case: the page asks for confirmation first.
_CONFIRMED = frozenset({Action.CANCEL, Action.REVOKE_SHARE})


def _uuid_or_none(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusTab:
    key: str
    label: str | Promise
    count: int
    current: bool


def _tabs(is_lab: bool, counts: dict[str, int], current: str) -> list[StatusTab]:
    """The status tabs: a lab's inbox first, then every case, then the states in use."""
    tabs: list[StatusTab] = []
    if is_lab:
        tabs.append(StatusTab(INBOX, _("Inbox"), counts.get(INBOX, 0), current == INBOX))
    tabs.append(StatusTab(ALL, _("All"), sum(counts.values()), current == ALL))
    for status, label in CaseStatus.choices:
        if is_lab and status == INBOX:
            continue
        if counts.get(status) or status == current:
            tabs.append(StatusTab(status, label, counts.get(status, 0), status == current))
    return tabs


@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.CaseView, actor.organization)
    is_lab = not actor.organization.is_clinic
    current = request.GET.get("status", "") or (INBOX if is_lab else ALL)
    # An unknown status lists nothing (the selector's rule).
    cases = case_list_for(actor=actor, status="" if current == ALL else current)
    page = Paginator(cases, PER_PAGE).get_page(request.GET.get("page"))
    if not is_lab:
        # The clinic's rows name their patient: open the page's patient keys in one query.
        # A lab's rows show nothing sealed, so no patient key is opened for it.
        preload_keys(page.object_list)
    context = {
        "page": page,
        "is_lab": is_lab,
        "show_patient": not is_lab,
        "current": current,
        "tabs": _tabs(is_lab, case_count_by_status(actor), current),
        "may_open_case": can(actor, Perm.CaseEdit),
    }
    return render(request, "cases/case_list.html", context)


# --- step 1: a new case, and editing its details --------------------------------------------


@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.CaseEdit, actor.organization)
    patients = list(patient_list_for(actor=actor))
    preload_keys(patients)
    patients.sort(key=lambda p: (p.family_name.casefold(), p.given_name.casefold()))
    wanted = request.GET.get("patient", "")
    initial = {"patient": wanted} if any(str(p.id) == wanted for p in patients) else {}
    form = CaseNewForm(request.POST or None, patients=patients, initial=initial)
    status = 200
    if request.method == "POST":
        member = member_of(actor)
        # A patient id the form never offered is someone else's (or nobody's): the same
        # audited 404 as any foreign record, not a form error.
        chosen = _uuid_or_none(request.POST.get("patient", ""))
        patient = access_patient(actor, chosen) if chosen is not None else None
        if patient is not None:
            note_subject_patient(request, patient.id)
        if form.is_valid() and patient is not None:
            try:
                case = case_create(actor=member, patient=patient, details=form.details())
            except InvalidInput as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(
                    request,
                    _("Draft case %(reference)s opened. Add the scans next.")
                    % {"reference": case.reference},
                )
                return redirect("cases:case_files", case_id=case.id)
        status = 422
    context = {"form": form, "case": None, "step": 1, "has_patients": bool(patients)}
    return render(request, "cases/case_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def case_edit(request: HttpRequest, case_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, Perm.CaseEdit, case)
    if side_of(actor, case) != Side.CLINIC:
        raise PermissionDenied
    status = 200
    if request.method == "POST":
        member = member_of(actor)
        form = CaseDetailsForm(request.POST)
        if form.is_valid():
            try:
                case_update(actor=member, case=case, details=form.details())
            except (InvalidInput, InvalidTransition) as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, _("Case details saved."))
                if case.status == State.DRAFT:
                    return redirect("cases:case_files", case_id=case.id)
                return redirect("cases:case_detail", case_id=case.id)
        status = 422
    else:
        form = CaseDetailsForm(initial=CaseDetailsForm.initial_of(case))
    # A draft is still being made: its details page is step 1 of the three.
    step = 1 if case.status == State.DRAFT else None
    context = {"form": form, "case": case, "step": step}
    return render(request, "cases/case_form.html", context, status=status)


# --- step 2: files ----------------------------------------------------------------------------


def _files_context(case: Case, actor: RouteActor) -> dict[str, object]:
    attachments = list(attachment_list_for(case=case))
    state = State(case.status)
    return {
        "case": case,
        "attachments": attachments,
        "has_scan": any(a.kind == "scan" for a in attachments),
        "files_open": state in workflow.ATTACHMENTS_OPEN,
        "sendable": state in _SENDABLE and can(actor, Perm.CaseShare, case),
        "max_upload_bytes": settings.CUSPID_MAX_UPLOAD_BYTES,
    }


@require_http_methods(["GET", "POST"])
def case_files(request: HttpRequest, case_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, Perm.CaseEdit, case)
    if side_of(actor, case) != Side.CLINIC:
        raise PermissionDenied
    error = ""
    added: Attachment | None = None
    status = 200
    if request.method == "POST":
        member = member_of(actor)
        try:
            form = AttachmentUploadForm(request.POST, request.FILES)
            if form.is_valid():
                added = attachment_add(actor=member, case=case, upload=form.upload())
            else:
                error, status = _("Choose a file to upload."), 422
        except _NOT_INPUT_ERRORS:
            raise
        except CuspidError as exc:
            error, status = exc.detail, exc.status
        if added is not None and not _is_htmx(request):
            messages.success(request, _("File added."))
            return redirect("cases:case_files", case_id=case.id)
    context = {**_files_context(case, actor), "error": error, "added": added, "step": 2}
    template = "cases/_attachments.html" if _is_htmx(request) else "cases/case_files.html"
    return render(request, template, context, status=status)


# --- step 3: send to a lab ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def case_send_page(request: HttpRequest, case_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, Perm.CaseShare, case)
    require(actor, Perm.ConnectionView, actor.organization)
    connections = lab_connection_list_for(actor=actor).filter(
        clinic_id=case.organization_id, status=ConnectionStatus.ACTIVE
    )
    labs = [(str(c.lab_id), c.lab.name) for c in connections]
    form = CaseSendForm(request.POST or None, labs=labs)
    status = 200
    if request.method == "POST":
        member = member_of(actor)
        if form.is_valid():
            lab_name = dict(labs)[form.cleaned_data["lab"]]
            try:
                case_send(actor=member, case=case, lab_id=UUID(form.cleaned_data["lab"]))
            except NotFound:
                form.add_error("lab", _("Choose a lab your clinic is connected to."))
            except InvalidTransition as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(
                    request,
                    _("Case %(reference)s sent to %(lab)s.")
                    % {"reference": case.reference, "lab": lab_name},
                )
                return redirect("cases:case_detail", case_id=case.id)
        status = 422
    context = {
        **_files_context(case, actor),
        "form": form,
        "labs": labs,
        "step": 3,
        "sendable_state": State(case.status) in _SENDABLE,
    }
    return render(request, "cases/case_send.html", context, status=status)


# --- the case page ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineRow:
    event: CaseEvent
    label: str | Promise
    from_label: str | Promise
    to_label: str | Promise


@dataclass(frozen=True, slots=True)
class ActionButton:
    action: str
    label: str | Promise
    needs_reason: bool
    needs_confirmation: bool
    link: str = ""

    @property
    def order(self) -> int:
        """Steps forward first, then those that send the case back, then those that end it."""
        return 2 if self.needs_confirmation else 1 if self.needs_reason else 0


# The timeline tells what happened; the buttons (CaseAction labels) say what to do.
_HAPPENED: dict[str, str | Promise] = {
    Action.SUBMIT: gettext_lazy("Sent to the lab"),
    Action.ACCEPT: gettext_lazy("Accepted by the lab"),
    Action.DECLINE: gettext_lazy("Declined by the lab"),
    Action.START_DESIGN: gettext_lazy("Design started"),
    Action.SEND_FOR_REVIEW: gettext_lazy("Sent for review"),
    Action.REQUEST_CHANGES: gettext_lazy("Changes requested"),
    Action.APPROVE: gettext_lazy("Design approved"),
    Action.START_PRODUCTION: gettext_lazy("Production started"),
    Action.SHIP: gettext_lazy("Shipped"),
    Action.CONFIRM_DELIVERY: gettext_lazy("Delivery confirmed"),
    Action.CLOSE: gettext_lazy("Case closed"),
    Action.CANCEL: gettext_lazy("Case cancelled"),
    Action.REVOKE_SHARE: gettext_lazy("Withdrawn from the lab"),
}


def _entry_label(entry: str) -> str | Promise:
    if entry in _HAPPENED:
        return _HAPPENED[entry]
    if entry in CaseAction.values:
        return CaseAction(entry).label
    if entry in TimelineEntry.values:
        return TimelineEntry(entry).label
    return entry


def _status_label(status: str) -> str | Promise:
    return CaseStatus(status).label if status in CaseStatus.values else status


def _timeline_rows(case: Case) -> list[TimelineRow]:
    return [
        TimelineRow(
            event=event,
            label=_entry_label(event.entry),
            from_label=_status_label(event.from_status) if event.from_status else "",
            to_label=_status_label(event.to_status) if event.to_status else "",
        )
        for event in case_timeline_for(case=case)
    ]


def _action_buttons(actor: RouteActor, case: Case, side: Side | None) -> list[ActionButton]:
    """The workflow steps this actor may take now, as the buttons the page shows."""
    if side is None or not isinstance(actor, Actor):
        return []
    buttons: list[ActionButton] = []
    for action in workflow.allowed_actions(State(case.status), side):
        if not can(actor, ACTION_PERMS[action], case):
            continue
        link = reverse("cases:case_send", args=[case.id]) if action == Action.SUBMIT else ""
        label: str | Promise = CaseAction(action.value).label
        if action == Action.APPROVE:
            # Approving signs one exact revision: it happens on the latest revision's review
            # page (cuspid.cases.views.approvals), after reading the statement there.
            latest = case.revisions.order_by("-number").values_list("id", flat=True).first()
            if latest is None:
                continue
            link = reverse("cases:revision_review", args=[latest])
            label = gettext_lazy("Review and approve")
        buttons.append(
            ActionButton(
                action=action.value,
                label=label,
                needs_reason=action in workflow.REASON_REQUIRED,
                needs_confirmation=action in _CONFIRMED,
                link=link,
            )
        )
    return sorted(buttons, key=lambda b: b.order)


@require_GET
def case_detail(request: HttpRequest, case_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, Perm.CaseView, case)
    side = side_of(actor, case)
    state = State(case.status)
    is_clinic = side == Side.CLINIC
    context = {
        "case": case,
        "side": side.value if side else "",
        "is_clinic": is_clinic,
        # Only the clinic's side learns who the patient is.
        "patient": case.patient if is_clinic and can(actor, Perm.PatientView, case) else None,
        "attachments": list(attachment_list_for(case=case)),
        "revisions": list(revision_list_for(case=case)),
        "timeline": _timeline_rows(case),
        "buttons": _action_buttons(actor, case, side),
        "may_add_files": is_clinic
        and state in workflow.ATTACHMENTS_OPEN
        and isinstance(actor, Actor)
        and can(actor, Perm.CaseEdit, case),
        "may_edit": is_clinic
        and state in workflow.DETAILS_OPEN
        and isinstance(actor, Actor)
        and can(actor, Perm.CaseEdit, case),
        "may_revise": side == Side.LAB
        and state in workflow.REVISIONS_OPEN
        and isinstance(actor, Actor)
        and can(actor, Perm.DesignEdit, case),
        **suggestions.case_panel_context(actor, case),
    }
    return render(request, "cases/case_detail.html", context)


@require_POST
def case_transition_page(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """One workflow step from the case page's buttons; refusals come back as a message.

    A role or side that may not take the step gets the 403 page (audited as a refused
    change), not a message: the page never offers it that button.
    """
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, Perm.CaseView, case)
    member = member_of(actor)
    form = CaseTransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the buttons on the case page."))
        return redirect("cases:case_detail", case_id=case.id)
    action = form.cleaned_data["action"]
    try:
        case = case_transition(
            actor=member, case=case, action=action, reason=form.cleaned_data["reason"]
        )
    except InvalidTransition as exc:
        messages.error(
            request,
            _("Nothing changed: the case is %(status)s. %(detail)s")
            % {"status": _status_label(exc.state.value), "detail": exc.detail},
        )
    except InvalidInput as exc:
        messages.error(request, _("Nothing changed. %(detail)s") % {"detail": exc.detail})
    else:
        messages.success(
            request, _("Done: the case is now %(status)s.") % {"status": _status_label(case.status)}
        )
        if side_of(actor, case) is None:
            # Declined: the case has left this lab.
            return redirect("cases:case_list")
    return redirect("cases:case_detail", case_id=case.id)


def _starting_revision(actor: RouteActor, case: Case, value: str | None) -> Revision | None:
    """The case's revision named by the form's ``based_on`` (404 for another case's or one
    the actor cannot see; nothing for an empty or malformed value)."""
    try:
        revision_id = UUID(value) if value else None
    except ValueError:
        return None
    if revision_id is None:
        return None
    revision = access_revision(actor, revision_id)
    if revision.case_id != case.id:
        raise NotFound
    return revision


@require_http_methods(["GET", "POST"])
def revision_new(request: HttpRequest, case_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, Perm.DesignEdit, case)
    if side_of(actor, case) != Side.LAB:
        raise PermissionDenied
    status = 200
    form = RevisionForm(initial={"based_on": request.GET.get("based_on", "")})
    named = request.POST.get("based_on") or request.GET.get("based_on")
    based_on = _starting_revision(actor, case, named)
    if request.method == "POST":
        member = member_of(actor)
        try:
            form = RevisionForm(request.POST, request.FILES)
            if form.is_valid():
                revision = revision_create(
                    actor=member,
                    case=case,
                    uploads=form.uploads(),
                    note=form.cleaned_data["note"],
                    based_on=based_on,
                )
                messages.success(
                    request, _("Revision %(number)s uploaded.") % {"number": revision.number}
                )
                return redirect("cases:case_detail", case_id=case.id)
            status = 422
        except _NOT_INPUT_ERRORS:
            raise
        except CuspidError as exc:
            form.add_error(None, exc.detail)
            status = exc.status
    context = {
        "form": form,
        "case": case,
        "based_on": based_on,
        "based_on_files": list(based_on.files.order_by("created_at", "id")) if based_on else [],
        "revision_count": case.revisions.count(),
        "max_upload_bytes": settings.CUSPID_MAX_UPLOAD_BYTES,
    }
    return render(request, "cases/revision_form.html", context, status=status)


# --- downloads ----------------------------------------------------------------------------------


@require_GET
def attachment_download(request: HttpRequest, attachment_id: UUID) -> StreamingHttpResponse:
    actor = acting_actor(request)
    attachment = access_attachment(actor, attachment_id)
    note_subject_patient(request, attachment.patient_id)
    # The case decides: a revision's file belongs to the lab that made it, yet the clinic
    # reads it through the case.
    require(actor, Perm.CaseView, attachment.case)
    return attachment_response(attachment)
