"""Activate a signed-in user's chosen language, whatever the browser asks for."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from cuspid.accounts.language import set_language_cookie


class UserLanguageMiddleware:
    """Runs after authentication; the user's saved language wins over the cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        language = user.language if user.is_authenticated else ""
        if language not in self.supported:
            return self.get_response(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        cookie = settings.LANGUAGE_COOKIE_NAME
        if request.COOKIES.get(cookie) != language and cookie not in response.cookies:
            # Keep the cookie in step so pages after sign-out stay in the user's language.
            set_language_cookie(response, language)
        return response
