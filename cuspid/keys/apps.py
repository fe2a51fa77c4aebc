from django.apps import AppConfig
from django.core.checks import Tags, register


class KeysConfig(AppConfig):
    name = "cuspid.keys"
    label = "keys"

    def ready(self) -> None:
        # Tink's primitives are registered once per process, before any key is used.
        from cuspid.keys import checks, kek

        kek.register_primitives()
        register(checks.kek_in_kms_check, Tags.security, deploy=True)
