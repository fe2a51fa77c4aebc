"""The embedded default served by ``make run``: SQLite, local files, a serverless broker."""

from __future__ import annotations

import secrets

from config.env import env
from config.settings.base import *  # noqa: F403 -- settings modules layer by star import
from config.settings.base import VAR_DIR


def _local_secret_key() -> str:
    """Read the secret key from var/, creating it once; it is never committed."""
    if env.secret_key:
        return env.secret_key
    path = VAR_DIR / "keys" / "django_secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(64), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _local_secret_key()
CUSPID_DEMO_ALLOWED = True
# The embedded default serves plain http on 127.0.0.1; browsers allow passkeys on localhost.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
