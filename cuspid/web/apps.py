from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "cuspid.web"
    label = "web"
