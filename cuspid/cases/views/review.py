"""Pages: pins, comments and @mentions on a revision, the review flow's buttons, and the
mentions inbox (issue 8).

The pins and comments panels of the revision review page (``cases:revision_review``) post
to these views with HTMX and re-render themselves; without HTMX the views redirect back to
the review page with a message. The review flow (send for review, request changes) changes
the whole page, so it posts plainly and redirects. Each view takes the actor, finds the
revision with ``access_revision`` (404 for absent and foreign alike), names its patient for
the audited read, ``require``s the permission and calls a selector or service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from cuspid.access.enforce import RouteActor, acting_actor, member_of, route_actor
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.access.policy import require as require_perm
from cuspid.cases import workflow
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Annotation, Attachment, Case, Comment, Mention, Revision
from cuspid.cases.policies import access_revision, side_of
from cuspid.cases.policies.review import access_annotation, access_mention, thread_parent_for
from cuspid.cases.selectors.review import (
    Participant,
    annotation_list_for,
    case_participants_for,
    comment_threads_for,
    latest_revision_number,
    mention_list_for,
)
from cuspid.cases.services import ACTION_PERMS
from cuspid.cases.services.review import (
    MAX_COMMENT,
    MAX_PIN_TEXT,
    annotation_create,
    annotation_delete,
    comment_create,
    mention_mark_all_read,
    mention_mark_read,
    revision_request_changes,
    revision_send_for_review,
)
from cuspid.cases.workflow import Action, Side, State
from cuspid.core.errors import InvalidInput
from cuspid.keys.fields import preload_keys
from cuspid.tenancy.actor import Actor

MENTIONS_PER_PAGE = 25
ANNOTATIONS_TEMPLATE = "cases/review/_annotations.html"
COMMENTS_TEMPLATE = "cases/review/_comments.html"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _review_url(revision: Revision, anchor: str = "") -> str:
    url = reverse("cases:revision_review", args=[revision.id])
    return f"{url}#{anchor}" if anchor else url


# --- forms: they parse what was typed; the services decide what is valid ----------------------


def _numbers(value: str) -> list[float] | None:
    parts = value.split(",")
    try:
        return [float(part) for part in parts] if len(parts) == 3 else None
    except ValueError:
        return None


class AnnotationForm(forms.Form):
    """A pin: where the viewer says the user clicked, and the note."""

    point = forms.CharField(widget=forms.HiddenInput, required=False)
    normal = forms.CharField(widget=forms.HiddenInput, required=False)
    attachment = forms.UUIDField(widget=forms.HiddenInput, required=False)
    text = forms.CharField(
        label=gettext_lazy("Note for this pin"),
        max_length=MAX_PIN_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        point = _numbers(data.get("point") or "")
        normal = _numbers(data.get("normal") or "")
        if point is None or normal is None:
            raise forms.ValidationError(
                gettext_lazy("Place the pin first: press “Add pin”, then click on the model.")
            )
        data["point"], data["normal"] = point, normal
        return data


class CommentForm(forms.Form):
    """A comment, or a reply to a thread."""

    body = forms.CharField(
        label=gettext_lazy("Comment"),
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    parent = forms.UUIDField(widget=forms.HiddenInput, required=False)


class ChangeRequestForm(forms.Form):
    """What the lab should change."""

    reason = forms.CharField(
        label=gettext_lazy("What should the lab change?"),
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


# --- the panels ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewPanel:
    """What the pins and comments panels show (``review`` in the page's context)."""

    pins: list[Annotation]
    # What the viewer draws: [{"number", "point", "normal", "text"}] (json_script).
    pins_data: list[dict[str, object]]
    threads: list[Comment]
    participants: list[Participant]
    # What the @mention suggestions offer: [{"handle", "name", "organization"}].
    participants_data: list[dict[str, str]]
    user_id: UUID | None
    latest_number: int
    is_latest: bool
    may_comment: bool
    may_send_for_review: bool
    may_request_changes: bool


def _may(actor: RouteActor, perm: Perm, case: Case) -> bool:
    return isinstance(actor, Actor) and can(actor, perm, case)


def review_panel(actor: RouteActor, revision: Revision) -> ReviewPanel:
    """The review panels of one revision as ``actor`` sees them."""
    case = revision.case
    state = State(case.status)
    side = side_of(actor, case)
    pins = list(annotation_list_for(revision=revision))
    threads = list(comment_threads_for(revision=revision))
    preload_keys([*pins, *threads])
    participants = case_participants_for(case=case)
    latest = latest_revision_number(case)
    is_latest = revision.number == latest
    open_case = state not in workflow.TERMINAL
    return ReviewPanel(
        pins=pins,
        pins_data=[
            {"number": p.number, "point": p.point, "normal": p.normal, "text": p.text} for p in pins
        ],
        threads=threads,
        participants=participants,
        participants_data=[
            {"handle": p.handle, "name": p.name, "organization": p.organization_name}
            for p in participants
        ],
        user_id=actor.user.pk if isinstance(actor, Actor) else None,
        latest_number=latest,
        is_latest=is_latest,
        may_comment=open_case and _may(actor, Perm.CaseComment, case),
        may_send_for_review=is_latest
        and side == Side.LAB
        and state == State.IN_DESIGN
        and _may(actor, ACTION_PERMS[Action.SEND_FOR_REVIEW], case),
        may_request_changes=is_latest
        and side == Side.CLINIC
        and state == State.AWAITING_REVIEW
        and _may(actor, ACTION_PERMS[Action.REQUEST_CHANGES], case)
        and _may(actor, Perm.CaseComment, case),
    )


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What this feature's panel on the revision review page needs (merged into its context)."""
    return {"review": review_panel(actor, revision)}


def _panel(
    request: HttpRequest,
    actor: RouteActor,
    revision: Revision,
    template: str,
    *,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    context = {
        "case": revision.case,
        "revision": revision,
        "side": side_of(actor, revision.case),
        "actor": actor,
        # The partial alone: the page has loaded the panel's script already.
        "partial": True,
        **panel_context(request, actor, revision),
        **extra,
    }
    return render(request, template, context, status=status)


def _revision(request: HttpRequest, revision_id: UUID, perm: Perm) -> tuple[RouteActor, Revision]:
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require_perm(actor, perm, revision.case)
    return actor, revision


# --- pins ------------------------------------------------------------------------------------


@require_GET
def revision_annotations(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """The pins panel alone (HTMX refresh)."""
    actor, revision = _revision(request, revision_id, Perm.CaseView)
    return _panel(request, actor, revision, ANNOTATIONS_TEMPLATE)


@require_POST
def annotation_new(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """Place a pin; the panel comes back with it (or with what to fix)."""
    actor, revision = _revision(request, revision_id, Perm.CaseComment)
    member = member_of(actor)
    form = AnnotationForm(request.POST)
    error, status = "", 200
    if form.is_valid():
        data = form.cleaned_data
        attachment: Attachment | None = None
        if data["attachment"] is not None:
            attachment = Attachment.objects.filter(
                id=data["attachment"], case_id=revision.case_id
            ).first()
        try:
            if data["attachment"] is not None and attachment is None:
                raise InvalidInput(_("This pin is not on a model of this revision."))
            annotation = annotation_create(
                actor=member,
                revision=revision,
                point=data["point"],
                normal=data["normal"],
                text=data["text"],
                attachment=attachment,
            )
        except (InvalidInput, InvalidTransition) as exc:
            error, status = exc.detail, exc.status
        else:
            if not _is_htmx(request):
                messages.success(request, _("Pin %(n)s placed.") % {"n": annotation.number})
                return redirect(_review_url(revision, f"annotation-{annotation.number}"))
            form = AnnotationForm()
    else:
        status = 422
    if not _is_htmx(request):
        messages.error(request, error or _("The pin was not placed. Write a note for it."))
        return redirect(_review_url(revision, "annotations-panel"))
    return _panel(
        request,
        actor,
        revision,
        ANNOTATIONS_TEMPLATE,
        status=status,
        pin_form=form,
        pin_error=error,
    )


@require_POST
def annotation_remove(request: HttpRequest, annotation_id: UUID) -> HttpResponse:
    """Remove one's own pin; the panel comes back without it."""
    actor = acting_actor(request)
    annotation = access_annotation(actor, annotation_id)
    note_subject_patient(request, annotation.patient_id)
    require_perm(actor, Perm.CaseComment, annotation.case)
    revision = access_revision(actor, annotation.revision_id)
    error, status = "", 200
    try:
        annotation_delete(actor=member_of(actor), annotation=annotation)
    except InvalidTransition as exc:
        error, status = exc.detail, exc.status
    if not _is_htmx(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, _("Pin %(n)s removed.") % {"n": annotation.number})
        return redirect(_review_url(revision, "annotations-panel"))
    return _panel(request, actor, revision, ANNOTATIONS_TEMPLATE, status=status, pin_error=error)


# --- comments --------------------------------------------------------------------------------


@require_GET
def revision_comments(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """The comments panel alone (HTMX refresh)."""
    actor, revision = _revision(request, revision_id, Perm.CaseView)
    return _panel(request, actor, revision, COMMENTS_TEMPLATE)


@require_POST
def comment_new(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """Post a comment or a reply; the panel comes back with it (or with what to fix)."""
    actor, revision = _revision(request, revision_id, Perm.CaseComment)
    member = member_of(actor)
    form = CommentForm(request.POST)
    error, status = "", 200
    parent: Comment | None = None
    if form.is_valid():
        parent_id = form.cleaned_data["parent"]
        try:
            parent = thread_parent_for(revision, parent_id) if parent_id else None
            if parent_id and parent is None:
                raise InvalidInput(_("Reply to a comment on this revision."))
            comment = comment_create(
                actor=member, revision=revision, body=form.cleaned_data["body"], parent=parent
            )
        except (InvalidInput, InvalidTransition) as exc:
            error, status = exc.detail, exc.status
        else:
            if not _is_htmx(request):
                messages.success(request, _("Comment posted."))
                return redirect(_review_url(revision, f"comment-{comment.id}"))
            form = CommentForm()
    else:
        error, status = _("Write a comment (at most %(n)s characters).") % {"n": MAX_COMMENT}, 422
    if not _is_htmx(request):
        messages.error(request, error)
        return redirect(_review_url(revision, "comments-panel"))
    # A reply's error shows in its thread; any other (an unknown thread too) above them all.
    failed_parent = str(parent.id) if status != 200 and parent is not None else ""
    return _panel(
        request,
        actor,
        revision,
        COMMENTS_TEMPLATE,
        status=status,
        comment_form=form,
        comment_error=error,
        comment_error_parent=failed_parent,
    )


# --- the review flow -------------------------------------------------------------------------


@require_POST
def revision_send_for_review_page(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """The lab sends the latest revision to the clinic."""
    actor, revision = _revision(request, revision_id, Perm.DesignEdit)
    try:
        revision_send_for_review(actor=member_of(actor), revision=revision)
    except InvalidTransition as exc:
        messages.error(request, _("Nothing changed. %(detail)s") % {"detail": exc.detail})
    else:
        messages.success(
            request,
            _("Revision %(n)s sent to the clinic for review.") % {"n": revision.number},
        )
    return redirect(_review_url(revision))


@require_POST
def revision_request_changes_page(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """The clinic sends the latest revision back, the reason posted as a comment."""
    actor, revision = _revision(request, revision_id, Perm.CaseEdit)
    form = ChangeRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say what the lab should change (at most 4000 characters)."))
        return redirect(_review_url(revision, "review-flow"))
    try:
        revision_request_changes(
            actor=member_of(actor), revision=revision, reason=form.cleaned_data["reason"]
        )
    except (InvalidInput, InvalidTransition) as exc:
        messages.error(request, _("Nothing changed. %(detail)s") % {"detail": exc.detail})
    else:
        messages.success(
            request,
            _("Changes requested: revision %(n)s went back to the lab.") % {"n": revision.number},
        )
    return redirect(_review_url(revision))


# --- the mentions inbox ----------------------------------------------------------------------


@require_GET
def mention_list(request: HttpRequest) -> HttpResponse:
    """Where the user was mentioned, in the organisation they act in: case and revision,
    never the comment's text."""
    actor = route_actor(request)
    mentions = mention_list_for(actor=actor) if actor is not None else Mention.objects.none()
    page = Paginator(mentions, MENTIONS_PER_PAGE).get_page(request.GET.get("page"))
    unread = any(m.read_at is None for m in page.object_list)
    return render(request, "cases/mention_list.html", {"page": page, "has_unread": unread})


@require_POST
def mention_open(request: HttpRequest, mention_id: UUID) -> HttpResponse:
    """Mark a mention read and go to the comment on its revision."""
    actor = acting_actor(request)
    mention = access_mention(actor, mention_id)
    mention = mention_mark_read(user=actor.user, mention=mention)
    return redirect(_review_url(mention.comment.revision, f"comment-{mention.comment_id}"))


@require_POST
def mention_read_all(request: HttpRequest) -> HttpResponse:
    """Mark every mention read."""
    marked = mention_mark_all_read(actor=member_of(acting_actor(request)))
    if marked:
        messages.success(request, _("All mentions marked read."))
    return redirect("cases:mention_list")


urlpatterns: list[URLPattern] = [
    path(
        "revisions/<uuid:revision_id>/annotations/",
        revision_annotations,
        name="revision_annotations",
    ),
    path("revisions/<uuid:revision_id>/annotations/new/", annotation_new, name="annotation_new"),
    path("annotations/<uuid:annotation_id>/remove/", annotation_remove, name="annotation_remove"),
    path("revisions/<uuid:revision_id>/comments/", revision_comments, name="revision_comments"),
    path("revisions/<uuid:revision_id>/comments/new/", comment_new, name="comment_new"),
    path(
        "revisions/<uuid:revision_id>/send-for-review/",
        revision_send_for_review_page,
        name="revision_send_for_review",
    ),
    path(
        "revisions/<uuid:revision_id>/request-changes/",
        revision_request_changes_page,
        name="revision_request_changes",
    ),
    path("mentions/", mention_list, name="mention_list"),
    path("mentions/<uuid:mention_id>/open/", mention_open, name="mention_open"),
    path("mentions/read-all/", mention_read_all, name="mention_read_all"),
]
