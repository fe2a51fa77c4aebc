"""Page-view guard: signed in, with an active organisation (an Actor)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec

from django.http import HttpRequest, HttpResponse

from cuspid.tenancy.actor import Actor
from cuspid.tenancy.requests import actor_from

P = ParamSpec("P")


def actor_required(
    view: Callable[Concatenate[HttpRequest, Actor, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Pass the request's Actor to the view; signed-out users go to sign-in, others get 404."""

    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        return view(request, actor_from(request), *args, **kwargs)

    functools.update_wrapper(wrapper, view)
    return wrapper
