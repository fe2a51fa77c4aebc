from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "cuspid.access"
    label = "access"
