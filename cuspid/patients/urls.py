from django.urls import path

from cuspid.patients import views

app_name = "patients"

urlpatterns = [
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<uuid:patient_id>/", views.patient_detail, name="patient_detail"),
    path("patients/<uuid:patient_id>/edit/", views.patient_edit, name="patient_edit"),
]
