from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cuspid.accounts"
    label = "accounts"
