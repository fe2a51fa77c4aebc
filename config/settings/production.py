"""Production: PostgreSQL, Redis, secure cookies and HSTS; every secret from the environment."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env
from config.settings.base import *  # noqa: F403 -- settings modules layer by star import
from config.settings.base import SILENCED_SYSTEM_CHECKS, STORAGES

if len(env.secret_key) < 50:
    raise ImproperlyConfigured("CUSPID_SECRET_KEY must be set to at least 50 random characters")
SECRET_KEY = env.secret_key
DEBUG = False
CUSPID_DEMO_ALLOWED = False
# The checkpoint signing key is provisioned by the operator, never made up on the fly.
CUSPID_AUDIT_SIGNING_KEY_CREATE = False
# So is the approval signing key: a new key made on the fly would sign approvals that no
# published public key verifies.
CUSPID_APPROVAL_SIGNING_KEY_CREATE = False
# The master key is provisioned (a mounted keyset or a KMS), never made up on the fly.
CUSPID_KEK_CREATE = False

SECURE_SSL_REDIRECT = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = False
SILENCED_SYSTEM_CHECKS = [
    *SILENCED_SYSTEM_CHECKS,
    # Preloading commits the operator's whole domain to HTTPS in browsers' source code; it is
    # a decision for each self-hosting clinic, not a default (set the header at the proxy).
    "security.W021",
]
# Throttle counters must be shared by every web process: Redis unless told otherwise.
if not env.cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.redis_url,
        }
    }
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

STORAGES["staticfiles"] = {
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
}
