from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "cuspid.patients"
    label = "patients"
