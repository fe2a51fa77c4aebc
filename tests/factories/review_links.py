"""Review links for tests, made through the real services, and a revision worth sharing.

``shared_revision`` builds what a clinic shares: a patient with an identity unusual enough
that finding any part of it in an answer means a leak, a case whose scans and design files
were uploaded under names that name the patient, sent to a lab, accepted and revised once.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass

from cuspid.cases.models import Case, ReviewLink, Revision
from cuspid.cases.services import (
    CaseDetails,
    Upload,
    attachment_add,
    case_create,
    revision_create,
)
from cuspid.cases.services.review_links import review_link_create
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.factories.cases import actor_of, make_patient, send_case, transition

# Who the shared case is for: none of it may appear on a review link's page.
GIVEN, FAMILY = "Zephyrine", "Quillfeather"
EMAIL = "z.quillfeather@patient.example"
PHONE = "+1 416 555 0177"
BIRTH_DATE = datetime.date(1977, 3, 29)
HEALTH_CARD = "9876-543-210-ZQ"
NOTES = "Bruxism; latex allergy noted by Dr Quill."
REVISION_NOTE = "Margins per Zephyrine's second scan."
# The names the files were uploaded under: they name the patient.
SCAN_NAME = "zephyrine-quillfeather-upper.stl"
ANTAGONIST_NAME = "zephyrine-quillfeather-lower.stl"
DESIGN_NAME = "quillfeather-crown-36-design.stl"
PHOTO_NAME = "zephyrine-smile.png"

# The patient's identity as it could appear in a page (the birth date in the formats Django
# and the app use).
IDENTITY: tuple[str, ...] = (
    GIVEN,
    FAMILY,
    EMAIL,
    PHONE,
    HEALTH_CARD,
    BIRTH_DATE.isoformat(),
    "1977-03-29",
    "March 29, 1977",
    "29 March 1977",
    NOTES,
    REVISION_NOTE,
    SCAN_NAME,
    ANTAGONIST_NAME,
    DESIGN_NAME,
    PHOTO_NAME,
    "zephyrine",
    "quillfeather",
)


@dataclass(frozen=True, slots=True)
class SharedRevision:
    clinician: Membership
    designer: Membership
    patient: Patient
    case: Case
    revision: Revision


def _png() -> bytes:
    """A small photo (of the case, which a link never shows)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 90)).save(out, format="PNG")
    return out.getvalue()


def shared_revision(
    clinician: Membership, designer: Membership, lab: Organization, *, photo: bool = False
) -> SharedRevision:
    """A case of a distinctly named patient, sent to ``lab``, accepted and revised once.

    The clinic uploaded an upper and a lower scan (and, with ``photo``, a photo) and the lab
    one design file, all under names that name the patient.
    """
    actor = actor_of(clinician)
    patient = make_patient(
        clinician,
        given_name=GIVEN,
        family_name=FAMILY,
        email=EMAIL,
        phone=PHONE,
        date_of_birth=BIRTH_DATE,
        health_card=HEALTH_CARD,
    )
    case = case_create(
        actor=actor,
        patient=patient,
        details=CaseDetails(
            case_type="crown",
            teeth=[36, 37],
            material="lithium_disilicate",
            shade="A3.5",
            notes=NOTES,
        ),
    )
    attachment_add(
        actor=actor, case=case, upload=Upload(file=io.BytesIO(arch_stl(1)), filename=SCAN_NAME)
    )
    attachment_add(
        actor=actor,
        case=case,
        upload=Upload(file=io.BytesIO(arch_stl(2, jaw="lower")), filename=ANTAGONIST_NAME),
    )
    if photo:
        attachment_add(
            actor=actor, case=case, upload=Upload(file=io.BytesIO(_png()), filename=PHOTO_NAME)
        )
    case = send_case(clinician, case, lab)
    case = transition(designer, case, "accept")
    revision = revision_create(
        actor=actor_of(designer),
        case=case,
        uploads=[Upload(file=io.BytesIO(arch_stl(7)), filename=DESIGN_NAME)],
        note=REVISION_NOTE,
    )
    case.refresh_from_db()
    return SharedRevision(clinician, designer, patient, case, revision)


def make_review_link(
    clinician: Membership, revision: Revision, **options: object
) -> tuple[ReviewLink, str]:
    """A link to ``revision`` made by ``clinician``; returns the link and its token."""
    return review_link_create(actor=actor_of(clinician), revision=revision, **options)  # type: ignore[arg-type]  # test options
