"""The case pages' forms: they parse what was typed; the services decide what is valid."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from cuspid.cases.enums import CaseType, Material, Priority
from cuspid.cases.models import Case
from cuspid.cases.services import MAX_NOTE_CHARS, CaseDetails, Upload
from cuspid.cases.teeth import FDI_TEETH
from cuspid.patients.models import Patient

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

# The tooth picker as a dentist reads a chart, facing the patient: the upper arch from the
# patient's right (18) to their left (28), the lower arch from 48 to 38.
PERMANENT_ARCHES = (
    ((18, 17, 16, 15, 14, 13, 12, 11), (21, 22, 23, 24, 25, 26, 27, 28)),
    ((48, 47, 46, 45, 44, 43, 42, 41), (31, 32, 33, 34, 35, 36, 37, 38)),
)
PRIMARY_ARCHES = (
    ((55, 54, 53, 52, 51), (61, 62, 63, 64, 65)),
    ((85, 84, 83, 82, 81), (71, 72, 73, 74, 75)),
)


@dataclass(frozen=True, slots=True)
class ToothBox:
    """One checkbox of the tooth picker."""

    number: int
    checked: bool


@dataclass(frozen=True, slots=True)
class ArchRow:
    """One arch of the picker: the patient's right quadrant, then their left."""

    upper: bool
    right: tuple[ToothBox, ...]
    left: tuple[ToothBox, ...]


class CaseDetailsForm(forms.Form):
    """What the clinic asks the lab to make (``CaseDetails``)."""

    case_type = forms.ChoiceField(label=_("Case type"), choices=CaseType.choices)
    teeth = forms.TypedMultipleChoiceField(
        label=_("Teeth"),
        required=False,
        coerce=int,
        choices=[(str(n), str(n)) for n in sorted(FDI_TEETH)],
        error_messages={"invalid_choice": _("%(value)s is not an FDI tooth number.")},
    )
    material = forms.ChoiceField(label=_("Material"), choices=Material.choices)
    shade = forms.CharField(
        label=_("Shade"), required=False, max_length=32, help_text=_("For example A2 or 2M2.")
    )
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DATE_INPUT)
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=Priority.choices,
        initial=Priority.ROUTINE,
        widget=forms.RadioSelect,
    )
    notes = forms.CharField(
        label=_("Clinical notes"),
        required=False,
        max_length=MAX_NOTE_CHARS,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Margins, contacts, occlusion, anything the lab should know."),
    )

    DETAIL_FIELDS = ("case_type", "teeth", "material", "shade", "due_date", "priority", "notes")

    @classmethod
    def initial_of(cls, case: Case) -> dict[str, object]:
        """The form's starting values for an existing case (its notes opened)."""
        values: dict[str, object] = {name: getattr(case, name) for name in cls.DETAIL_FIELDS}
        values["teeth"] = [str(n) for n in case.teeth]
        values["notes"] = case.notes or ""
        values["shade"] = case.shade or ""
        return values

    def details(self) -> CaseDetails:
        """The details of a valid form (call ``is_valid()`` first)."""
        data = self.cleaned_data
        return CaseDetails(
            case_type=data["case_type"],
            teeth=list(data["teeth"]),
            material=data["material"],
            shade=data["shade"],
            due_date=data["due_date"],
            priority=data["priority"],
            notes=data["notes"],
        )

    def selected_teeth(self) -> set[int]:
        """The teeth to show ticked: what was sent, or the starting values."""
        raw: Iterable[object]
        if self.is_bound:
            raw = self.data.getlist("teeth") if hasattr(self.data, "getlist") else []
        else:
            raw = self.initial.get("teeth") or []
        return {int(str(v)) for v in raw if str(v).strip().isdigit()}

    def _rows(self, arches: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]) -> list[ArchRow]:
        chosen = self.selected_teeth()
        return [
            ArchRow(
                upper=index == 0,
                right=tuple(ToothBox(n, n in chosen) for n in right),
                left=tuple(ToothBox(n, n in chosen) for n in left),
            )
            for index, (right, left) in enumerate(arches)
        ]

    def permanent_rows(self) -> list[ArchRow]:
        """The permanent teeth, as the two arches."""
        return self._rows(PERMANENT_ARCHES)

    def primary_rows(self) -> list[ArchRow]:
        """The primary (baby) teeth, as the two arches."""
        return self._rows(PRIMARY_ARCHES)

    def has_primary(self) -> bool:
        """Whether a primary tooth is ticked (the group then starts open)."""
        return any(n >= 51 for n in self.selected_teeth())


class CaseNewForm(CaseDetailsForm):
    """Step 1 of a new case: the patient, then what to make."""

    patient = forms.ChoiceField(label=_("Patient"))

    field_order = ["patient", *CaseDetailsForm.DETAIL_FIELDS]

    def __init__(self, *args: Any, patients: Sequence[Patient] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"].choices = [  # type: ignore[attr-defined]  # a ChoiceField
            ("", _("Choose a patient")),
            *(
                (
                    str(p.id),
                    f"{p.family_name}, {p.given_name} ({p.date_of_birth:%Y-%m-%d})",
                )
                for p in patients
            ),
        ]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or more files from one ``<input type=file multiple>``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        items = list(data) if isinstance(data, list | tuple) else [data]
        cleaned = [single(item, initial) for item in items or [None]]
        return [item for item in cleaned if item is not None]


class AttachmentUploadForm(forms.Form):
    """Step 2: one scan (STL, PLY, OBJ), photo (JPEG, PNG) or PDF at a time."""

    file = forms.FileField(
        label=_("File"),
        allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={"accept": ".stl,.ply,.obj,.jpg,.jpeg,.png,.pdf"}),
        help_text=_("Intraoral scans (STL, PLY, OBJ), photos (JPEG, PNG) or documents (PDF)."),
    )

    def upload(self) -> Upload:
        """The file of a valid form as a service upload."""
        file: UploadedFile = self.cleaned_data["file"]
        return Upload(file=file, filename=file.name or "")  # type: ignore[arg-type]  # an UploadedFile is a readable, seekable binary file


class CaseSendForm(forms.Form):
    """Step 3: the connected lab to send the case to."""

    lab = forms.ChoiceField(label=_("Lab"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, labs: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lab"].choices = list(labs)  # type: ignore[attr-defined]  # a ChoiceField
        if len(labs) == 1 and not self.is_bound:
            self.initial["lab"] = labs[0][0]


class CaseTransitionForm(forms.Form):
    """One workflow step from the case page: the action, and why when it must say."""

    action = forms.CharField(max_length=32)
    reason = forms.CharField(required=False, max_length=MAX_NOTE_CHARS)


class RevisionForm(forms.Form):
    """A design revision: its files (meshes) and a note for the clinic."""

    design_files = MultipleFileField(
        label=_("Design files"),
        allow_empty_file=True,
        help_text=_("One or more meshes: STL, PLY or OBJ."),
    )
    note = forms.CharField(
        label=_("Note for the clinic"),
        required=False,
        max_length=MAX_NOTE_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    # The revision the designer starts from (an AI suggestion), carried from the link.
    based_on = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def uploads(self) -> list[Upload]:
        """The files of a valid form as service uploads."""
        files: list[UploadedFile] = self.cleaned_data["design_files"]
        return [Upload(file=f, filename=f.name or "") for f in files]  # type: ignore[arg-type]  # an UploadedFile is a readable, seekable binary file
