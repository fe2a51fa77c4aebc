"""The patient pages' forms: they parse what was typed; the services decide what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cuspid.patients.enums import PreferredLanguage, Sex
from cuspid.patients.models import Patient
from cuspid.patients.selectors import PatientSearch
from cuspid.patients.services import PatientDetails

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PatientSearchForm(forms.Form):
    """Exact search: a health card, an email, or a full name with the date of birth."""

    health_card = forms.CharField(label=_("Health card number"), required=False, max_length=64)
    given_name = forms.CharField(label=_("Given name"), required=False, max_length=120)
    family_name = forms.CharField(label=_("Family name"), required=False, max_length=120)
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False, widget=DATE_INPUT)
    email = forms.CharField(label=_("Email"), required=False, max_length=254)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name_dob = [data.get("given_name"), data.get("family_name"), data.get("date_of_birth")]
        if any(name_dob) and not all(name_dob):
            raise ValidationError(
                _("To search by name, enter the given name, family name and date of birth.")
            )
        return data

    def search(self) -> PatientSearch:
        """The search of a valid form (call ``is_valid()`` first)."""
        data = self.cleaned_data
        return PatientSearch(
            health_card=data["health_card"],
            email=data["email"],
            given_name=data["given_name"],
            family_name=data["family_name"],
            date_of_birth=data["date_of_birth"],
        )


class PatientForm(forms.Form):
    """Everything a clinic records about a patient (``PatientDetails``)."""

    given_name = forms.CharField(label=_("Given name"), max_length=120)
    family_name = forms.CharField(label=_("Family name"), max_length=120)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DATE_INPUT)
    sex = forms.ChoiceField(
        label=_("Sex"), required=False, choices=[("", _("Not recorded")), *Sex.choices]
    )
    health_card = forms.CharField(
        label=_("Health card number"),
        required=False,
        max_length=64,
        help_text=_("Or an insurance number. Searches find it only when typed in full."),
    )
    chart_number = forms.CharField(label=_("Chart number"), required=False, max_length=64)
    email = forms.CharField(
        label=_("Email"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    address = forms.CharField(
        label=_("Address"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"),
        choices=PreferredLanguage.choices,
        initial=PreferredLanguage.EN,
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Allergies, medical alerts and other things the clinic should know."),
    )

    @classmethod
    def initial_of(cls, patient: Patient) -> dict[str, object]:
        """The form's starting values for an existing patient (sealed fields opened)."""
        return {name: getattr(patient, name) or "" for name in cls.base_fields}

    def details(self) -> PatientDetails:
        """The details of a valid form (call ``is_valid()`` first)."""
        data = self.cleaned_data
        return PatientDetails(**{name: data[name] for name in self.base_fields})
