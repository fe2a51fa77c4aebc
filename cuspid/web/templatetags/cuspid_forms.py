"""Form rendering helpers for the shared field template (``web/form_fields.html``)."""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def field_widget(field: BoundField) -> SafeString:
    """The field's widget without its placeholder: the visible label already names the field.

    Django adds ``aria-invalid`` and ``aria-describedby`` (help text and error ids) itself.
    """
    return field.as_widget(attrs={"placeholder": False})
