"""The URL map: pages, allauth, the API, health checks."""

from django.urls import include, path, re_path
from django.views.generic import RedirectView

from config.api import api
from cuspid.accounts.views import step_up
from cuspid.web.errors import page_not_found_view

_to_step_up = RedirectView.as_view(pattern_name="accounts:step_up", query_string=True)

urlpatterns = [
    path("", include("cuspid.web.urls")),
    path("", include("cuspid.tenancy.urls")),
    path("", include("cuspid.audit.urls")),
    path("", include("cuspid.accounts.urls")),
    path("", include("cuspid.access.urls")),
    path("", include("cuspid.patients.urls")),
    path("", include("cuspid.cases.urls")),
    # Addresses are managed by clinics and labs (invitations), not by users: allauth's email
    # page would let anyone add an unverified address that then works for sign-in and reset.
    path("accounts/email/", page_not_found_view, name="account_email"),
    # Every re-authentication is Cuspid's step-up page (password and a second factor, or a
    # passkey); allauth's password pages with Cuspid's rules; allauth's sessions list is
    # Cuspid's "Your sessions". Same paths and names as allauth's, matched first.
    path("accounts/reauthenticate/", _to_step_up, name="account_reauthenticate"),
    path("accounts/2fa/reauthenticate/", _to_step_up, name="mfa_reauthenticate"),
    path(
        "accounts/2fa/webauthn/reauthenticate/",
        step_up.passkey_step_up,
        name="mfa_reauthenticate_webauthn",
    ),
    path("accounts/password/change/", step_up.password_change, name="account_change_password"),
    re_path(
        r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        step_up.password_reset_from_key,
        name="account_reset_password_from_key",
    ),
    path(
        "accounts/sessions/",
        RedirectView.as_view(pattern_name="accounts:session_list"),
        name="usersessions_list",
    ),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
]

handler400 = "cuspid.web.errors.bad_request"
handler403 = "cuspid.web.errors.permission_denied"
handler404 = "cuspid.web.errors.page_not_found"
handler500 = "cuspid.web.errors.server_error"
