"""Pages: review links. The clinic's panel on the revision review page (create, list,
revoke), and the public page a link opens for someone without an account.

The clinic's pages follow the case pages' steps: the actor, ``access_*`` (404 for absent and
foreign), the patient named for the audited read, ``require`` and the clinic's side, then the
service. The public pages (``/review/<token>/...``) have no actor: every request presents the
token again and is checked anew (``review_link_resolve``), so a revoked or expired link stops
at once, the page and its file streams alike. Every refusal answers the same 404 page. A
link with a passcode asks for it first; the right passcode leaves a short-lived pass for that
link in the session.

The public page shows the case's reference, teeth, type, material and shade, the revision
and its meshes, and the revision's pins: never the patient, the clinical notes or a file's
uploaded name. It has no approval control and no way into the app.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cuspid.access.enforce import RouteActor, acting_actor, member_of
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require
from cuspid.cases.downloads import attachment_response
from cuspid.cases.enums import CaseType, Material
from cuspid.cases.models import Annotation, Attachment, ReviewLink, Revision
from cuspid.cases.policies import access_revision, side_of
from cuspid.cases.policies.review_links import (
    ReviewLinkRefused,
    access_review_link,
    can_comment_review_link,
)
from cuspid.cases.review_actor import ReviewLinkHolder
from cuspid.cases.selectors.review_links import (
    ReviewerComment,
    ReviewLinkRow,
    review_link_annotation_list_for,
    review_link_comment_list_for,
    review_link_file_list_for,
    review_link_list_for,
    reviewer_comment_parts,
)
from cuspid.cases.services.review_links import (
    DEFAULT_HOURS,
    LABEL_MAX,
    PASSCODE_MAX,
    PASSCODE_WINDOW_SECONDS,
    REVIEWER_NAME_MAX,
    ReviewLinkThrottled,
    review_link_comment_add,
    review_link_create,
    review_link_deny,
    review_link_file_read,
    review_link_open,
    review_link_passcode_check,
    review_link_resolve,
    review_link_revoke,
)
from cuspid.cases.views.viewer import viewer_config
from cuspid.cases.workflow import Side
from cuspid.core import clock
from cuspid.core.errors import CuspidError, InvalidInput, NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor

# The session keeps, per link id, until when its passcode was given (a POSIX time).
PASS_SESSION_KEY = "cuspid_review_link_passes"  # noqa: S105 -- a session key name, not a secret
PASS_SECONDS = 30 * 60
UNAVAILABLE_TEMPLATE = "cases/review_link/unavailable.html"
COMMENT_MAX_CHARS = 4000


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- the clinic's panel ------------------------------------------------------------------------


class ReviewLinkCreateForm(forms.Form):
    """What the clinician chooses for a new link (the service checks the values again)."""

    expires_in_hours = forms.TypedChoiceField(
        label=gettext_lazy("Expires after"),
        choices=[
            (24, gettext_lazy("24 hours")),
            (72, gettext_lazy("72 hours")),
            (168, gettext_lazy("7 days")),
        ],
        coerce=int,
        initial=DEFAULT_HOURS,
    )
    allow_comments = forms.BooleanField(
        label=gettext_lazy("The reviewer may comment"), required=False
    )
    passcode = forms.CharField(
        label=gettext_lazy("Passcode (optional)"),
        required=False,
        strip=False,
        max_length=PASSCODE_MAX,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "At least 6 characters. Tell it to the reviewer by phone, not in the same message "
            "as the link."
        ),
    )
    label = forms.CharField(
        label=gettext_lazy("For (optional)"),
        required=False,
        max_length=LABEL_MAX,
        help_text=gettext_lazy("Who you send it to, for your list, e.g. Dr Roy, periodontist."),
    )


@dataclass(frozen=True, slots=True)
class LinksPanel:
    """What ``cases/review/_links.html`` shows: the form, the list, a new link once."""

    revision: Revision
    rows: list[ReviewLinkRow]
    form: ReviewLinkCreateForm
    created_url: str = ""
    created_link: ReviewLink | None = None


def _may_manage(actor: RouteActor, revision: Revision) -> bool:
    return (
        isinstance(actor, Actor)
        and can(actor, Perm.ReviewLinkManage, revision.case)
        and side_of(actor, revision.case) == Side.CLINIC
    )


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What this feature's panel on the revision review page needs (merged into its context):
    ``links_panel``, or ``None`` for anyone but a clinician of the case's clinic."""
    if not _may_manage(actor, revision):
        return {"links_panel": None}
    assert isinstance(actor, Actor)  # noqa: S101 -- narrowed by _may_manage, for mypy
    rows = review_link_list_for(actor=actor, revision=revision)
    return {"links_panel": LinksPanel(revision, rows, ReviewLinkCreateForm())}


def _managed_revision(request: HttpRequest, revision_id: UUID) -> tuple[RouteActor, Revision]:
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, Perm.ReviewLinkManage, revision.case)
    if side_of(actor, revision.case) != Side.CLINIC:
        raise PermissionDenied
    return actor, revision


def _panel_response(request: HttpRequest, panel: LinksPanel, status: int = 200) -> HttpResponse:
    """The panel alone for htmx; without JavaScript, a page of its own around it."""
    template = (
        "cases/review_link/_panel.html" if _is_htmx(request) else "cases/review_link/manage.html"
    )
    context = {"links_panel": panel, "revision": panel.revision, "case": panel.revision.case}
    return render(request, template, context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def review_link_panel(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """The links of a revision, and a new one (POST): its address is shown this once."""
    actor, revision = _managed_revision(request, revision_id)
    form = ReviewLinkCreateForm(request.POST if request.method == "POST" else None)
    created_url, created, status = "", None, 200
    if request.method == "POST":
        member = member_of(actor)
        if form.is_valid():
            try:
                created, token = review_link_create(
                    actor=member,
                    revision=revision,
                    expires_in_hours=form.cleaned_data["expires_in_hours"],
                    allow_comments=form.cleaned_data["allow_comments"],
                    passcode=form.cleaned_data["passcode"],
                    label=form.cleaned_data["label"],
                    request=request,
                )
            except InvalidInput as exc:
                form.add_error(None, exc.detail)
                status = 422
            else:
                created_url = request.build_absolute_uri(
                    reverse("cases:review_link_page", args=[token])
                )
                form = ReviewLinkCreateForm()
        else:
            status = 422
    assert isinstance(actor, Actor)  # noqa: S101 -- _managed_revision checked the permission
    rows = review_link_list_for(actor=actor, revision=revision)
    panel = LinksPanel(revision, rows, form, created_url, created)
    return _panel_response(request, panel, status)


@require_POST
def review_link_revoke_page(request: HttpRequest, link_id: UUID) -> HttpResponse:
    """Revoke one link at once; the panel comes back without its revoke button."""
    actor = acting_actor(request)
    link = access_review_link(actor, link_id)
    note_subject_patient(request, link.patient_id)
    require(actor, Perm.ReviewLinkManage, link.case)
    member = member_of(actor)
    link = review_link_revoke(actor=member, link=link, request=request)
    if not _is_htmx(request):
        messages.success(request, _("Review link revoked. It no longer opens."))
        return redirect("cases:review_link_panel", revision_id=link.revision_id)
    rows = review_link_list_for(actor=member, revision=link.revision)
    return _panel_response(request, LinksPanel(link.revision, rows, ReviewLinkCreateForm()))


# --- the public page ---------------------------------------------------------------------------

PublicView = Callable[..., HttpResponseBase]


def _public(view: PublicView) -> PublicView:
    """Headers of every answer under ``/review/<token>/``: never cached, never indexed. (The
    address holds the token: the site's ``Referrer-Policy: same-origin`` keeps it from any
    other site; same-origin requests must keep their Origin for the CSRF check.)"""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def _unavailable(request: HttpRequest) -> HttpResponse:
    """The one answer to every refused link: expired, revoked, unknown, malformed."""
    return render(request, UNAVAILABLE_TEMPLATE, status=404)


def _has_pass(request: HttpRequest, link: ReviewLink) -> bool:
    """Whether the link needs no passcode, or this session gave it within PASS_SECONDS."""
    if not link.passcode_hash:
        return True
    passes = request.session.get(PASS_SESSION_KEY, {})
    until = passes.get(str(link.id)) if isinstance(passes, dict) else None
    return isinstance(until, int | float) and until > clock.now().timestamp()


def _give_pass(request: HttpRequest, link: ReviewLink) -> None:
    # A new session id once the passcode is given (no fixation); passes of other links the
    # browser opened stay, those that ran out go.
    request.session.cycle_key()
    now = clock.now().timestamp()
    passes = request.session.get(PASS_SESSION_KEY, {})
    kept = {k: v for k, v in passes.items() if isinstance(v, int | float) and v > now}
    kept[str(link.id)] = now + PASS_SECONDS
    request.session[PASS_SESSION_KEY] = kept


@dataclass(frozen=True, slots=True)
class PublicCase:
    """Everything the public page may say about the case and revision: no patient, no
    notes, no file names. The template gets this, never the case itself."""

    reference: str
    teeth: list[int]
    case_type: str | Promise
    material: str | Promise
    shade: str
    revision_number: int
    clinic_name: str
    expires_at: datetime
    time_zone: str
    allow_comments: bool


def _public_case(link: ReviewLink) -> PublicCase:
    case = link.case
    try:
        time_zone = str(zoneinfo.ZoneInfo(link.organization.time_zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        time_zone = "UTC"
    return PublicCase(
        reference=case.reference,
        teeth=list(case.teeth),
        case_type=CaseType(case.case_type).label,
        material=Material(case.material).label,
        shade=case.shade,
        revision_number=link.revision.number,
        clinic_name=link.organization.name,
        expires_at=link.expires_at,
        time_zone=time_zone,
        allow_comments=link.allow_comments,
    )


class ReviewerCommentForm(forms.Form):
    """A link holder's comment, signed with the name they give."""

    author_name = forms.CharField(
        label=gettext_lazy("Your name"),
        max_length=REVIEWER_NAME_MAX,
        help_text=gettext_lazy("Shown with your comment, e.g. Dr Roy."),
    )
    text = forms.CharField(
        label=gettext_lazy("Comment"),
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _file_url(token: str) -> Callable[[Attachment], str]:
    def url_for(attachment: Attachment) -> str:
        return reverse("cases:review_link_file", args=[token, attachment.id])

    return url_for


@dataclass(frozen=True, slots=True)
class PinRow:
    number: int
    text: str


def _page(
    request: HttpRequest,
    holder: ReviewLinkHolder,
    token: str,
    *,
    comment_form: ReviewerCommentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """Count the open (audited) and show the revision."""
    try:
        review_link_open(holder=holder, request=request)
    except ReviewLinkRefused:
        return _unavailable(request)
    meshes = [f for f in review_link_file_list_for(holder=holder) if f.layer]
    pins: list[Annotation] = review_link_annotation_list_for(holder=holder)
    comments: list[ReviewerComment] = []
    may_comment = can_comment_review_link(holder)
    if may_comment:
        comments = [reviewer_comment_parts(c) for c in review_link_comment_list_for(holder=holder)]
    context = {
        "page": _public_case(holder.link),
        "token": token,
        "viewer_config": viewer_config(meshes, can_pin=False, url_for=_file_url(token)),
        "meshes": meshes,
        "pins": [PinRow(pin.number, pin.text) for pin in pins],
        # The viewer's markers (read-only: no "Add pin" on this page).
        "pin_data": [
            {"number": pin.number, "point": pin.point, "normal": pin.normal, "text": pin.text}
            for pin in pins
        ],
        "may_comment": may_comment,
        "comments": comments,
        "comment_form": comment_form or ReviewerCommentForm(),
    }
    return render(request, "cases/review_link/page.html", context, status=status)


class PasscodeForm(forms.Form):
    passcode = forms.CharField(
        label=gettext_lazy("Passcode"),
        strip=False,
        max_length=PASSCODE_MAX,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


def _passcode_page(
    request: HttpRequest, form: PasscodeForm, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = {"form": form, "error": error}
    return render(request, "cases/review_link/passcode.html", context, status=status)


@_public
@require_http_methods(["GET", "POST"])
def review_link_page(request: HttpRequest, token: str) -> HttpResponseBase:
    """The revision a link shows (GET); with a passcode, its form first (POST checks it)."""
    try:
        holder = review_link_resolve(token=token, request=request)
    except ReviewLinkRefused:
        return _unavailable(request)
    if request.method == "GET":
        if not _has_pass(request, holder.link):
            return _passcode_page(request, PasscodeForm())
        return _page(request, holder, token)
    form = PasscodeForm(request.POST)
    passcode = form.cleaned_data["passcode"] if form.is_valid() else ""
    try:
        right = review_link_passcode_check(holder=holder, passcode=passcode, request=request)
    except ReviewLinkThrottled:
        minutes = PASSCODE_WINDOW_SECONDS // 60
        error = _("Too many tries. Wait %(minutes)d minutes, then try again.") % {
            "minutes": minutes
        }
        return _passcode_page(request, PasscodeForm(), error=error, status=429)
    if not right:
        error = _("That passcode is not right. Check it with the clinic that sent the link.")
        return _passcode_page(request, PasscodeForm(), error=error, status=422)
    _give_pass(request, holder.link)
    return redirect("cases:review_link_page", token=token)


@_public
@require_GET
def review_link_file(request: HttpRequest, token: str, attachment_id: UUID) -> HttpResponseBase:
    """One mesh of the link's revision (or the case's scans), streamed; audited."""
    try:
        holder = review_link_resolve(token=token, request=request)
    except ReviewLinkRefused:
        return _unavailable(request)
    if not _has_pass(request, holder.link):
        review_link_deny(link=holder.link, request=request)
        return _unavailable(request)
    try:
        attachment = review_link_file_read(
            holder=holder, attachment_id=attachment_id, request=request
        )
    except NotFound:
        return _unavailable(request)
    return attachment_response(attachment)


@_public
@require_POST
def review_link_comment(request: HttpRequest, token: str) -> HttpResponseBase:
    """A comment from the link's holder, when the link allows comments."""
    try:
        holder = review_link_resolve(token=token, request=request)
    except ReviewLinkRefused:
        return _unavailable(request)
    if not _has_pass(request, holder.link) or not can_comment_review_link(holder):
        review_link_deny(link=holder.link, request=request)
        return _unavailable(request)
    form = ReviewerCommentForm(request.POST)
    if form.is_valid():
        try:
            review_link_comment_add(
                holder=holder,
                author_name=form.cleaned_data["author_name"],
                text=form.cleaned_data["text"],
            )
        except PermissionDenied:
            # Revoked or expired since the check above: the same answer as any refused link.
            review_link_deny(link=holder.link, request=request)
            return _unavailable(request)
        except CuspidError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(
                request,
                _("Comment sent. %(clinic)s will see it with the design.")
                % {"clinic": holder.link.organization.name},
            )
            return redirect(reverse("cases:review_link_page", args=[token]) + "#comments")
    return _page(request, holder, token, comment_form=form, status=422)


urlpatterns: list[URLPattern] = [
    path(
        "revisions/<uuid:revision_id>/review-links/",
        review_link_panel,
        name="review_link_panel",
    ),
    path(
        "review-links/<uuid:link_id>/revoke/",
        review_link_revoke_page,
        name="review_link_revoke",
    ),
    # Public: the token is the credential. The request log masks it (cuspid.core.logging).
    path("review/<str:token>/", review_link_page, name="review_link_page"),
    path(
        "review/<str:token>/files/<uuid:attachment_id>",
        review_link_file,
        name="review_link_file",
    ),
    path("review/<str:token>/comments/", review_link_comment, name="review_link_comment"),
]
