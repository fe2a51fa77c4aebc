"""Blind indexes: exact lookup of encrypted values without storing them in the clear.

A blind index is a keyed PRF (HMAC-SHA256, a Tink PRF keyset) over a normalised value. Each
organisation has its own index key (a ``DataKey`` of kind ``index``), so the same
health-card number in two clinics gives two unrelated indexes, and a copied database cannot
be searched by anyone without the KEK. The purpose is part of the input, so an email and a
health-card number that happen to be equal give different indexes.

Normalisation makes the lookup forgiving where people write the same thing differently:
case, accents in names, spaces and dashes in card numbers.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from enum import StrEnum
from uuid import UUID

from cuspid.keys.crypto import prf_compute


class BlindPurpose(StrEnum):
    EMAIL = "email"
    HEALTH_CARD = "health_card"
    NAME_DOB = "name_dob"


_CARD_SEPARATORS = re.compile(r"[^0-9A-Z]")
_NAME_SEPARATORS = re.compile("[\\s\\-'\u2019.,]+")  # \u2019: the typographic apostrophe


def normalize_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().casefold()


def normalize_health_card(number: str) -> str:
    """Upper-case letters and digits only: "1234-567 890 ab" and "1234567890AB" match."""
    return _CARD_SEPARATORS.sub("", unicodedata.normalize("NFKC", number).upper())


def normalize_name(name: str) -> str:
    """Accents, case, spaces, hyphens and apostrophes do not matter: "Marie-Ève O'Neil",
    "marie eve oneil" and "MARIE EVE O NEIL" are one name."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NAME_SEPARATORS.sub("", letters).casefold()


def blind_index(organization_id: UUID, purpose: BlindPurpose, normalized: str) -> str:
    """The organisation's blind index (64 hex digits) of an already normalised value."""
    data = f"{purpose}\x00{normalized}".encode()
    return prf_compute(organization_id, data).hex()


def email_index(organization_id: UUID, email: str) -> str:
    return blind_index(organization_id, BlindPurpose.EMAIL, normalize_email(email))


def health_card_index(organization_id: UUID, number: str) -> str:
    return blind_index(organization_id, BlindPurpose.HEALTH_CARD, normalize_health_card(number))


def name_dob_index(
    organization_id: UUID, given_name: str, family_name: str, date_of_birth: datetime.date
) -> str:
    """One index over the full name and the date of birth: finds a patient by all three."""
    normalized = (
        f"{normalize_name(given_name)}\x00{normalize_name(family_name)}\x00"
        f"{date_of_birth.isoformat()}"
    )
    return blind_index(organization_id, BlindPurpose.NAME_DOB, normalized)
