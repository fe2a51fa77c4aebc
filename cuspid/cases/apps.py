from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cuspid.cases"
    label = "cases"
