from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cuspid.core"
    label = "core"
