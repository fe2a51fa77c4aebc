from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cuspid.accounts"
    label = "accounts"

    def ready(self) -> None:
        # allauth.mfa reports its events only as signals; see cuspid.accounts.receivers.
        from cuspid.accounts import receivers

        receivers.connect()
