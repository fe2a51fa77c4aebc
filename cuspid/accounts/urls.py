from django.urls import URLPattern, path

from cuspid.accounts import views
from cuspid.accounts.views import devices, invitations, mfa, sessions, step_up, tokens

app_name = "accounts"

# Each area's page module lists its own patterns; the names are declared in
# cuspid.access.routes like every other page.
urlpatterns: list[URLPattern] = [
    path("profile/", views.profile, name="profile"),
    path("language/", views.language_set, name="language_set"),
    *invitations.urlpatterns,
    *tokens.urlpatterns,
    *devices.urlpatterns,
    *mfa.urlpatterns,
    *sessions.urlpatterns,
    *step_up.urlpatterns,
]
