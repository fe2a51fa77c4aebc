from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "cuspid.keys"
    label = "keys"

    def ready(self) -> None:
        # Tink's primitives are registered once per process, before any key is used.
        from cuspid.keys import kek

        kek.register_primitives()
