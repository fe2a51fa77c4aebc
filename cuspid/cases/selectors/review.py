"""Reads of a revision's pins, comment threads and participants, and of a user's mentions.

Callers find the revision with ``access_revision`` and check ``Perm.CaseView`` on its case
first. Lists are a fixed number of queries whatever their length; the pages and endpoints
open the sealed texts' data key with ``cuspid.keys.fields.preload_keys`` (one more query).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Max, Prefetch, QuerySet

from cuspid.access.enforce import RouteActor
from cuspid.access.matrix import AccessRole, permissions_of
from cuspid.access.permissions import Perm
from cuspid.cases.models import Annotation, Case, Comment, Mention, Revision
from cuspid.cases.policies import visible_cases
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership

# The membership roles that take part in a case: those whose role may read it (clinicians,
# staff, designers, lab staff). Patients and organisation admins never do.
PARTICIPANT_ROLES: tuple[str, ...] = tuple(
    role.value for role in Role if Perm.CaseView in permissions_of(AccessRole(role.value))
)
HANDLE_MAX = 30
# "@" and a handle, not inside a word or an email address ("ana@lab.example" mentions nobody).
MENTION = re.compile(r"(?<![\w@.])@([a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)", re.IGNORECASE)
_NOT_HANDLE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone who takes part in a case, as the comment form offers them."""

    user_id: UUID
    name: str
    organization_name: str
    handle: str


def _handle_base(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_HANDLE.sub(".", ascii_text.lower()).strip(".")[:HANDLE_MAX].strip(".")


def handle_of(full_name: str, email: str) -> str:
    """The @handle a person is mentioned by: their name (``Marie Roy`` → ``marie.roy``), else
    their email's local part, else ``member``."""
    return _handle_base(full_name) or _handle_base(email.split("@")[0]) or "member"


def case_participants_for(*, case: Case) -> list[Participant]:
    """The people of a case: active members of its clinic, and of the lab it is shared with
    now, whose role may read cases; sorted by name. One query.

    Handles are unique within the case: when two people share one, the one who joined
    Cuspid first keeps it and the others get ``2``, ``3`` … appended, so a newcomer never
    takes over a handle already in use.
    """
    organizations = [case.organization_id]
    if case.shared_with_lab_id is not None:
        organizations.append(case.shared_with_lab_id)
    memberships = (
        Membership.objects.filter(
            organization_id__in=organizations,
            role__in=PARTICIPANT_ROLES,
            is_active=True,
            user__is_active=True,
        )
        .select_related("user", "organization")
        .order_by("user__date_joined", "user_id", "created_at")
    )
    taken: set[str] = set()
    people: dict[UUID, Participant] = {}
    for membership in memberships:
        user = membership.user
        if user.pk in people:
            continue
        base = handle_of(user.full_name, user.email)
        handle, n = base, 1
        while handle in taken:
            n += 1
            handle = f"{base}{n}"
        taken.add(handle)
        people[user.pk] = Participant(
            user_id=user.pk,
            name=user.display_name,
            organization_name=membership.organization.name,
            handle=handle,
        )
    return sorted(people.values(), key=lambda p: (p.name.casefold(), p.handle))


def mentioned_in(text: str, participants: Sequence[Participant]) -> list[Participant]:
    """The participants ``text`` names with ``@handle``, each once, in order of first mention.

    Anything else after an ``@`` stays plain text: it names nobody, and the caller cannot
    tell whether such a person exists. A sentence's full stop after a handle is not part of
    it (``@marie.roy.`` names ``marie.roy``).
    """
    by_handle = {p.handle: p for p in participants}
    found: dict[UUID, Participant] = {}
    for match in MENTION.finditer(text):
        person = by_handle.get(match.group(1).lower())
        if person is not None:
            found.setdefault(person.user_id, person)
    return list(found.values())


def annotation_list_for(*, revision: Revision) -> QuerySet[Annotation]:
    """The pins of a revision, by number, with their authors and organisations. One query."""
    return (
        Annotation.objects.filter(revision=revision)
        .select_related("author", "organization", "attachment")
        .order_by("number")
    )


def comment_threads_for(*, revision: Revision) -> QuerySet[Comment]:
    """The comment threads of a revision: its top-level comments oldest first, each with its
    ``replies`` (prefetched, oldest first), authors, organisations and review links. Two
    queries whatever the number of comments."""
    who = ("author", "organization", "review_link")
    replies = Comment.objects.select_related(*who).order_by("created_at", "id")
    return (
        Comment.objects.filter(revision=revision, parent__isnull=True)
        .select_related(*who)
        .prefetch_related(Prefetch("replies", queryset=replies))
        .order_by("created_at", "id")
    )


def latest_revision_number(case: Case) -> int:
    """The number of the case's newest revision (0 without any). One query."""
    last = Revision.objects.filter(case=case).aggregate(n=Max("number"))["n"]
    return int(last or 0)


def mention_list_for(*, actor: RouteActor, unread_only: bool = False) -> QuerySet[Mention]:
    """The actor's own mentions on cases their organisation sees now, newest first, with
    the case, the revision and who wrote the comment. One query.

    Only the actor's own, and only while the case is visible to the organisation they act
    in: a lab member's mentions leave their inbox when the case is withdrawn from the lab.
    """
    mentions = Mention.objects.filter(user_id=actor.user.pk, case__in=visible_cases(actor))
    if unread_only:
        mentions = mentions.filter(read_at__isnull=True)
    return mentions.select_related(
        "case", "comment__revision", "comment__author", "comment__organization"
    ).order_by("-created_at", "id")


def mention_unread_count(*, actor: RouteActor) -> int:
    """How many of the actor's visible mentions are unread. One query."""
    return mention_list_for(actor=actor, unread_only=True).count()
