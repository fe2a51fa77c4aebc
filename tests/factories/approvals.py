"""Approvals for tests, made through the real service (signed, audited, step-up checked)."""

from __future__ import annotations

from cuspid.cases.approvals import CURRENT_STATEMENT_VERSION
from cuspid.cases.models import Approval, Case, Revision
from cuspid.cases.services.approvals import revision_approve
from cuspid.tenancy.models import Membership
from tests.factories.cases import actor_of


def latest_revision(case: Case) -> Revision:
    """The case's newest design revision."""
    return Revision.objects.select_related("case").filter(case_id=case.id).order_by("-number")[0]


def approve(membership: Membership, revision: Revision) -> Approval:
    """The member (freshly signed in) approves the revision under the current statement."""
    revision = Revision.objects.select_related("case").get(pk=revision.pk)
    return revision_approve(
        actor=actor_of(membership),
        revision=revision,
        statement_version=CURRENT_STATEMENT_VERSION,
    )


def approve_case(membership: Membership, case: Case) -> Case:
    """The member approves the case's latest revision; the case, reloaded."""
    approve(membership, latest_revision(case))
    return Case.objects.select_related("organization", "shared_with_lab").get(pk=case.pk)
