"""Settings for the test suite: the local ones, with fast hashing and in-memory email."""

from __future__ import annotations

from config.env import env
from config.settings.base import *  # noqa: F403 -- settings modules layer by star import

SECRET_KEY = "test-only-key-" + "x" * 50
CUSPID_DEMO_ALLOWED = True
CUSPID_REQUIRE_ALL = env.require_all
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ACCOUNT_RATE_LIMITS = False
