"""Seal second-factor secrets stored before they were encrypted (cuspid.keys, issue 6).

TOTP secrets and recovery-code seeds written before the MFA adapter sealed them are sealed
now with the platform key; already sealed values are left alone, so running it twice is
harmless. There is no way back: a reverse migration would write secrets in the clear.
"""

from typing import Any

from django.db import migrations

SEALED_PREFIX = "tink1:"


def seal_existing(apps: Any, schema_editor: Any) -> None:
    from cuspid.keys.crypto import seal_secret

    authenticator_model = apps.get_model("mfa", "Authenticator")
    for authenticator in authenticator_model.objects.all():
        data = dict(authenticator.data)
        changed = False
        for name in ("secret", "seed"):
            value = data.get(name)
            if isinstance(value, str) and not value.startswith(SEALED_PREFIX):
                data[name] = seal_secret(value, "mfa")
                changed = True
        codes = data.get("migrated_codes")
        if isinstance(codes, list):
            sealed = [
                code if code.startswith(SEALED_PREFIX) else seal_secret(code, "mfa")
                for code in codes
            ]
            changed = changed or sealed != codes
            data["migrated_codes"] = sealed
        if changed:
            authenticator.data = data
            authenticator.save(update_fields=["data"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_add_identity_records"),
        ("keys", "0002_rotation_state_and_blobs"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(seal_existing, migrations.RunPython.noop)]
