from django.urls import path

from cuspid.tenancy import views

app_name = "tenancy"

urlpatterns = [
    path("members/", views.member_list, name="member_list"),
    path("members/<uuid:membership_id>/", views.member_detail, name="member_detail"),
    path("connections/", views.connection_list, name="connection_list"),
    path("organizations/switch/", views.organization_switch, name="organization_switch"),
]
