from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "cuspid.tenancy"
    label = "tenancy"
