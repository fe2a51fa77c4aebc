"""Pages: the organisation's API tokens (list, create with the value shown once, revoke).

Creating and revoking need a recent authentication: the services raise ``StepUpRequired``,
which the page error middleware turns into the step-up flow.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.forms.tokens import ApiTokenCreateForm
from cuspid.accounts.policies import has_recent_auth
from cuspid.accounts.policies.tokens import access_api_token
from cuspid.accounts.selectors.tokens import api_token_list_for
from cuspid.accounts.services.tokens import api_token_create, api_token_revoke
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.requests import actor_from


@require_http_methods(["GET", "POST"])
def api_token_list(request: HttpRequest) -> HttpResponse:
    """List the organisation's tokens; create one and show its value this once."""
    actor = actor_from(request)
    require(actor, Perm.ApiTokenManage, actor.organization)
    form = ApiTokenCreateForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, plain = api_token_create(
                actor=actor,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                request=request,
            )
        except InvalidInput as exc:
            form.add_error(None, exc.detail)
        else:
            # Rendered in this answer only (no redirect): the value is stored nowhere that
            # a later page could read it back.
            created = {"token": token, "value": plain}
            form = ApiTokenCreateForm()
    response = render(
        request,
        "accounts/token_list.html",
        {
            "form": form,
            "created": created,
            "rows": api_token_list_for(actor=actor),
            "recent_auth": has_recent_auth(actor),
        },
    )
    add_never_cache_headers(response)
    return response


@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: UUID) -> HttpResponse:
    """Revoke one token of the organisation (404 for any other); effective at once."""
    actor = actor_from(request)
    token = access_api_token(actor, token_id)
    api_token_revoke(actor=actor, token=token, request=request)
    messages.success(
        request, _("Token “%(name)s” revoked. It no longer works.") % {"name": token.name}
    )
    return redirect("accounts:api_token_list")


urlpatterns: list[URLPattern] = [
    path("settings/api-tokens/", api_token_list, name="api_token_list"),
    path(
        "settings/api-tokens/<uuid:token_id>/revoke/",
        api_token_revoke_view,
        name="api_token_revoke",
    ),
]
