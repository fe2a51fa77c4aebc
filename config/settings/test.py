"""Settings for the test suite: the local ones, with fast hashing and in-memory email."""

from __future__ import annotations

from config.env import env
from config.settings.base import *  # noqa: F403 -- settings modules layer by star import

SECRET_KEY = "test-only-key-" + "x" * 50
CUSPID_DEMO_ALLOWED = True
CUSPID_REQUIRE_ALL = env.require_all
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Browser tests run over http://localhost; WebAuthn allows that only when told to.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True

# Django empties every table between transactional tests with one TRUNCATE, which the audit
# trigger refuses; this session setting is its test-only switch (migration 0002 of audit).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405 -- from base
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c cuspid.audit_truncate=allow"  # noqa: F405 -- from base
