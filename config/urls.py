"""The URL map: pages, allauth, the API, health checks."""

from django.urls import include, path

from config.api import api
from cuspid.web.errors import page_not_found_view

urlpatterns = [
    path("", include("cuspid.web.urls")),
    path("", include("cuspid.tenancy.urls")),
    path("", include("cuspid.audit.urls")),
    path("", include("cuspid.accounts.urls")),
    path("", include("cuspid.access.urls")),
    # Addresses are managed by clinics and labs (invitations), not by users: allauth's email
    # page would let anyone add an unverified address that then works for sign-in and reset.
    path("accounts/email/", page_not_found_view, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
]

handler400 = "cuspid.web.errors.bad_request"
handler403 = "cuspid.web.errors.permission_denied"
handler404 = "cuspid.web.errors.page_not_found"
handler500 = "cuspid.web.errors.server_error"
