"""Reads of patient records, filtered to what the actor may see."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet

from cuspid.access.enforce import RouteActor
from cuspid.keys.blind import email_index, health_card_index, name_dob_index
from cuspid.patients.models import Patient
from cuspid.patients.policies import visible_patients


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """Exact search through the blind indexes: no plaintext is ever compared in SQL.

    A health-card number, an email address, or a full name with the date of birth; empty
    fields are ignored, and a search with nothing usable lists every visible patient.
    """

    health_card: str = ""
    email: str = ""
    given_name: str = ""
    family_name: str = ""
    date_of_birth: datetime.date | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.health_card.strip() or self.email.strip() or self.has_name_dob)

    @property
    def has_name_dob(self) -> bool:
        return bool(self.given_name.strip() and self.family_name.strip() and self.date_of_birth)


def patient_list_for(
    *, actor: RouteActor, search: PatientSearch | None = None
) -> QuerySet[Patient]:
    """The actor's visible patients, newest first, narrowed by an exact ``search``.

    The caller checks ``Perm.PatientView`` first. One query, whatever the page size; names
    are opened (decrypted) only for the rows a page shows.
    """
    patients = visible_patients(actor)
    if search is not None:
        org = actor.organization.id
        if search.health_card.strip():
            patients = patients.filter(health_card_index=health_card_index(org, search.health_card))
        if search.email.strip():
            patients = patients.filter(email_index=email_index(org, search.email))
        if search.has_name_dob and search.date_of_birth is not None:
            patients = patients.filter(
                name_dob_index=name_dob_index(
                    org, search.given_name, search.family_name, search.date_of_birth
                )
            )
    return patients.order_by("-created_at", "id")
