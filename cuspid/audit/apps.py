from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "cuspid.audit"
    label = "audit"
