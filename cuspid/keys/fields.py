"""Encrypted model fields: the database holds Tink ciphertext, the model attribute plaintext.

A model with encrypted fields mixes in :class:`KeyOwned` and says whose data key seals its
rows (``keys_owner_kind``) and which of its fields holds that owner's id
(``keys_owner_field``): a patient's rows use the patient's DEK, an organisation's the
organisation's. Every ciphertext is bound to ``table:column:row id`` as associated data, so a
ciphertext copied into another row or another field does not open.

Values are sealed when the row is saved and opened when the attribute is first read, so
loading a page of rows opens only what the page shows. Queries never see plaintext: the only
lookup these fields accept is ``isnull``; exact search goes through a blind index
(:mod:`cuspid.keys.blind`). Writing through ``QuerySet.update`` is refused, because only
``save()`` knows the row and the owner.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterable
from typing import Any, ClassVar, cast
from uuid import UUID

from django import forms
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.lookups import IsNull, Lookup

from cuspid.keys.crypto import dek_preload, seal, unseal
from cuspid.keys.models import OwnerKind


class KeyOwned:
    """Mixin for models with encrypted fields: whose DEK seals a row."""

    keys_owner_kind: ClassVar[OwnerKind]
    keys_owner_field: ClassVar[str]

    def keys_owner(self) -> tuple[OwnerKind, UUID]:
        owner_id = getattr(self, self.keys_owner_field)
        if owner_id is None:
            raise ValueError(f"{type(self).__name__} has no {self.keys_owner_field} to seal with")
        return self.keys_owner_kind, owner_id


class Sealed:
    """A ciphertext loaded from the database and not opened yet."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: bytes) -> None:
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return "<sealed>"


def _owner(instance: models.Model) -> tuple[OwnerKind, UUID]:
    # contribute_to_class refused models with encrypted fields that are not KeyOwned.
    return cast(KeyOwned, instance).keys_owner()


class _PlaintextAttribute:
    """The model attribute: opens the sealed value on first read, keeps what is assigned."""

    def __init__(self, field: EncryptedField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type[models.Model]) -> Any:
        if instance is None:
            return self
        attname = self.field.attname
        if attname not in instance.__dict__:
            instance.refresh_from_db(fields=[attname])
        value = instance.__dict__[attname]
        if isinstance(value, Sealed):
            value = self.field.open(instance, value.ciphertext)
            instance.__dict__[attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedField(models.BinaryField):  # type: ignore[type-arg]  # plaintext attribute, binary column
    """Encrypted bytes, and the base of the encrypted fields: subclasses say how a value
    becomes bytes and back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", True)
        super().__init__(*args, **kwargs)

    # Bytes as they are; the subclasses below encode text, dates and JSON.
    def encode(self, value: Any) -> bytes:
        return bytes(value)

    def decode(self, data: bytes) -> Any:
        return data

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        if not cls._meta.abstract and not issubclass(cls, KeyOwned):
            raise TypeError(f"{cls.__name__}.{name}: a model with encrypted fields is KeyOwned")
        setattr(cls, self.name, _PlaintextAttribute(self))

    def associated_data(self, instance: models.Model) -> bytes:
        if instance.pk is None:
            raise ValueError("encrypted fields need the row id before saving (use a UUID key)")
        return f"{instance._meta.db_table}:{self.column}:{instance.pk}".encode()

    def open(self, instance: models.Model, ciphertext: bytes) -> Any:
        """Decrypt this field's ciphertext for ``instance``; raises ``KeyDestroyed`` after
        crypto-shredding and ``tink.TinkError`` when the ciphertext belongs elsewhere."""
        kind, owner_id = _owner(instance)
        return self.decode(unseal(kind, owner_id, ciphertext, self.associated_data(instance)))

    def sealed(self, instance: models.Model) -> bytes | None:
        """The ciphertext to store for ``instance``: what was loaded when it was not opened
        (or not changed since), otherwise the current plaintext sealed afresh."""
        value = instance.__dict__.get(self.attname)
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.ciphertext
        kind, owner_id = _owner(instance)
        return seal(kind, owner_id, self.encode(value), self.associated_data(instance))

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        ciphertext = self.sealed(model_instance)
        return None if ciphertext is None else Sealed(ciphertext)

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            raise TypeError(
                f"{self.name} is encrypted: write it by assigning the attribute and calling "
                "save(), not through update() or a query"
            )
        return super().get_db_prep_value(value.ciphertext, connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        return None if value is None else Sealed(bytes(value))

    def to_python(self, value: Any) -> Any:
        return value

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        # Ciphertexts are randomised: only "is it set?" has an answer in the database.
        return IsNull if lookup_name == "isnull" else None

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisation (dumpdata) writes ciphertext, never plaintext.
        ciphertext = self.sealed(obj)
        return "" if ciphertext is None else base64.b64encode(ciphertext).decode("ascii")


class EncryptedTextField(EncryptedField):
    """Text, sealed with the owner's DEK."""

    def encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]  # only plaintext forms
        return forms.CharField(
            max_length=self.max_length, required=not self.blank, label=self.verbose_name, **kwargs
        )


class EncryptedDateField(EncryptedField):
    """A date (a date of birth), sealed as its ISO form."""

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, datetime.date):
            raise TypeError(f"{self.name} takes a date, not {type(value).__name__}")
        return value.isoformat().encode("ascii")

    def decode(self, data: bytes) -> datetime.date:
        return datetime.date.fromisoformat(data.decode("ascii"))

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]  # only plaintext forms
        return forms.DateField(required=not self.blank, label=self.verbose_name, **kwargs)


class EncryptedJSONField(EncryptedField):
    """A JSON document (lists, mappings, numbers, text), sealed as compact JSON."""

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]  # only plaintext forms
        return forms.JSONField(required=not self.blank, label=self.verbose_name, **kwargs)


def preload_keys(rows: Iterable[models.Model]) -> None:
    """Open, in one query per owner kind, the data keys that ``rows``' sealed fields need.

    List pages and endpoints call it on the page they show, so their query count does not
    grow with the number of patients on the page.
    """
    owners: dict[OwnerKind, set[UUID]] = {}
    for row in rows:
        kind, owner_id = _owner(row)
        owners.setdefault(kind, set()).add(owner_id)
    for kind, ids in owners.items():
        dek_preload(kind, ids)


def encrypted_fields(model: type[models.Model]) -> list[EncryptedField]:
    """The model's encrypted fields, in declaration order."""
    return [field for field in model._meta.concrete_fields if isinstance(field, EncryptedField)]
