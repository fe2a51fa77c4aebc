from django.urls import path

from cuspid.audit import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.audit_event_list, name="event_list"),
    path("audit/export.csv", views.audit_event_export_csv, name="event_export"),
]
