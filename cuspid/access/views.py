"""The break-glass page: operators start a grant; an organisation's admins see the grants."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cuspid.access.forms import BreakGlassStartForm
from cuspid.access.selectors import break_glass_list_for, break_glass_list_for_operator
from cuspid.access.services import break_glass_start, is_platform_operator
from cuspid.accounts.models import User
from cuspid.core.errors import InvalidInput, NotAuthenticated, NotFound
from cuspid.tenancy.actor import Actor


@require_http_methods(["GET", "POST"])
def break_glass(request: HttpRequest) -> HttpResponse:
    """Admins: the grants on their organisation. Operators: the form and their grants."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated
    actor: Actor | None = getattr(request, "actor", None)
    if actor is not None:
        if request.method != "GET":
            raise NotFound
        grants = break_glass_list_for(actor=actor)
        return render(request, "access/break_glass_admin.html", {"grants": grants})
    if not is_platform_operator(user):
        raise NotFound
    form = BreakGlassStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            break_glass_start(
                operator=user,
                organization=form.cleaned_data["organization"],
                reason=form.cleaned_data["reason"],
                minutes=form.cleaned_data["minutes"],
            )
        except InvalidInput as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, _("Break-glass access started. It is being audited."))
            return redirect("access:break_glass")
    grants = break_glass_list_for_operator(operator=user)
    return render(request, "access/break_glass_operator.html", {"form": form, "grants": grants})
