"""The operator's break-glass form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from cuspid.access.models import MAX_BREAK_GLASS_MINUTES
from cuspid.tenancy.models import Organization


class BreakGlassStartForm(forms.Form):
    organization = forms.ModelChoiceField(
        label=_("Organization"), queryset=Organization.objects.order_by("name")
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why you need access. The organization's admins will read it."),
    )
    minutes = forms.IntegerField(
        label=_("Minutes"),
        min_value=1,
        max_value=MAX_BREAK_GLASS_MINUTES,
        initial=15,
        help_text=_("At most 60 minutes."),
    )
