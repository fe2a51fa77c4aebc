"""Settings shared by every way Cuspid runs. Values that vary come from ``config.env``."""

from __future__ import annotations

from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from config.env import BASE_DIR as _BASE_DIR
from config.env import env

BASE_DIR = _BASE_DIR

VAR_DIR = env.var_dir
DEBUG = env.debug
ALLOWED_HOSTS = env.allowed_hosts
CSRF_TRUSTED_ORIGINS = env.csrf_trusted_origins

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "ninja",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "cuspid.core",
    "cuspid.accounts",
    "cuspid.tenancy",
    "cuspid.audit",
    "cuspid.keys",
    "cuspid.access",
    "cuspid.patients",
    "cuspid.cases",
    "cuspid.web",
]

MIDDLEWARE = [
    "cuspid.core.logging.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Refuses an upload past CUSPID_MAX_UPLOAD_MB (413) before the CSRF check reads the form.
    "cuspid.web.middleware.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Idle (30 min, 15 on PHI pages) and absolute (12 h) session limits; revoked sessions end.
    # It also keeps each session's IP, browser and last-seen time (allauth.usersessions'
    # table) for the "Your sessions" page, written at most once a minute, so allauth's own
    # UserSessionsMiddleware (several queries on every request) is not installed.
    "cuspid.accounts.middleware.SessionLimitsMiddleware",
    "cuspid.accounts.middleware.UserLanguageMiddleware",
    "cuspid.tenancy.middleware.ActorMiddleware",
    # Staff and lab accounts see nothing but MFA enrolment until they have a second factor.
    "cuspid.accounts.middleware.MfaRequiredMiddleware",
    # Sets the "cuspid_device" cookie a sign-in chose (new-device mail, trusted devices).
    "cuspid.accounts.middleware.DeviceCookieMiddleware",
    # Every page is declared in cuspid.access.routes; reads of PHI pages are audited here.
    "cuspid.access.middleware.RouteAccessMiddleware",
    "cuspid.web.middleware.DomainErrorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Innermost, so the security headers above are added to the JSON it makes.
    "cuspid.web.middleware.ApiErrorShapeMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "cuspid.web.context_processors.navigation",
                "cuspid.cases.context_processors.mentions",
            ],
        },
    },
]


def database_settings(url: str) -> dj_database_url.DBConfig:
    """Django's settings for the database at ``url``; SQLite is tuned for the embedded default.

    WAL lets the web process read while the worker writes; IMMEDIATE transactions take the
    write lock up front instead of failing on a lock upgrade; a busy writer is waited for.
    """
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
            ),
            "transaction_mode": "IMMEDIATE",
        }
    return database


DATABASES: dict[str, Any] = {"default": database_settings(env.database_url)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    # allauth's backend, refusing hard-locked accounts as if the password were wrong.
    "cuspid.accounts.backends.LockAwareAuthenticationBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "cuspid.accounts.passwords.MaximumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    # Organisation names, email, name words, "cuspid" (replaces Django's similarity check).
    {"NAME": "cuspid.accounts.passwords.ContextWordsValidator"},
]

# django-allauth: email is the login name; there is no open sign-up.
ACCOUNT_ADAPTER = "cuspid.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
# A password change keeps this session and ends every other one (cuspid.accounts.views.
# step_up.PasswordChangeView); Django's session hash would end them on their next request.
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PREVENT_ENUMERATION = True
# The reset form mails only existing accounts: nobody can make Cuspid write to a stranger.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Cuspid] "
# Throttles (NIST 800-63B s.3.2.2; DESIGN.md "Numbers"), counted in the shared cache below.
# login_failed: 10 failed passwords per 5 minutes per account and per IP. mfa_failed is
# Cuspid's own action (cuspid.accounts.throttle): 5 wrong second factors per 5 minutes and 20
# per hour per account. allauth also counts second-factor failures under login_failed.
ACCOUNT_RATE_LIMITS: dict[str, str] | bool = {
    "login_failed": "10/5m/ip,10/5m/key",
    "mfa_failed": "5/5m/key,20/1h/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "reauthenticate": "10/m/user",
}
# Reverse proxies in front of the web processes: client IPs (throttles, audit, sessions) are
# read from X-Forwarded-For through exactly this many hops (cuspid.core.http.client_ip).
CUSPID_TRUSTED_PROXY_COUNT = env.trusted_proxy_count
ALLAUTH_TRUSTED_PROXY_COUNT = env.trusted_proxy_count
# After this many failed sign-ins in a row the account is locked until an admin unlocks it.
CUSPID_HARD_LOCK_AFTER = 100
# Step-up: services that change security settings (and, later, approve or export) need a
# full authentication at most this old (ASVS V7.5).
ACCOUNT_REAUTHENTICATION_TIMEOUT = 30 * 60
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_EMAIL_NOTIFICATIONS = False

# allauth.mfa: TOTP (30 s, single use), recovery codes shown once, WebAuthn passkeys both as a
# second factor and for passwordless sign-in; "trust this browser" for 30 days.
MFA_ADAPTER = "cuspid.accounts.adapter.MFAAdapter"
# The code forms count wrong codes against "mfa_failed" and the hard lock, and audit them.
MFA_FORMS = {
    "authenticate": "cuspid.accounts.forms.security.MfaAuthenticateForm",
    "reauthenticate": "cuspid.accounts.forms.security.MfaReauthenticateForm",
    "edit_webauthn": "cuspid.accounts.forms.mfa.PasskeyRenameForm",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_PERIOD = 30
MFA_TOTP_DIGITS = 6
MFA_TOTP_TOLERANCE = 0
MFA_TOTP_ISSUER = "Cuspid"
MFA_RECOVERY_CODE_COUNT = 10
MFA_RECOVERY_CODES_SHOW_ONCE = True
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_PASSKEY_SIGNUP_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False
# Trust is Cuspid's own, server-side and revocable (cuspid.accounts.devices), so allauth's
# cookie-only trust stays off.
MFA_TRUST_ENABLED = False
CUSPID_TRUSTED_DEVICE_DAYS = 30

# Sessions are server-side (the database), rotated at sign-in by Django, listed by
# allauth.usersessions, and bounded by cuspid.accounts.middleware.SessionLimitsMiddleware.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
USERSESSIONS_TRACK_ACTIVITY = True
CUSPID_SESSION_IDLE_SECONDS = 30 * 60
CUSPID_SESSION_IDLE_PHI_SECONDS = 15 * 60
CUSPID_SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
CUSPID_INVITATION_HOURS = 72
# Password reset links: allauth's default token generator honours PASSWORD_RESET_TIMEOUT, and
# the token embeds the password hash and last login, so a used link stops working.
PASSWORD_RESET_TIMEOUT = 60 * 60

# The cache holds the throttle counters, so every process must share it: Redis in production,
# a database table in the embedded default (``createcachetable`` makes it).
if env.cache_url.startswith(("redis://", "rediss://")):
    CACHES: dict[str, Any] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.cache_url,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "cuspid_cache",
        }
    }

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "web:dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "cuspid.web.errors.csrf_failure"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, Any] = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(env.blob_dir)},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Where cuspid.keys.blobs keeps ciphertext: files under CUSPID_BLOB_DIR, or an S3 bucket
    # (CUSPID_BLOB_S3_BUCKET; boto3 takes credentials, region and AWS_ENDPOINT_URL from the
    # environment). Only ciphertext is ever written here.
    "blobs": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": env.blob_s3_bucket, "file_overwrite": False},
        }
        if env.blob_s3_bucket
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": str(env.blob_dir),
                "directory_permissions_mode": 0o700,
                "file_permissions_mode": 0o600,
            },
        }
    ),
}
CUSPID_BLOB_DIR = env.blob_dir
CUSPID_HOST = env.host
CUSPID_PORT = env.port
# Ed25519 key that signs audit checkpoints; kept outside the database. The embedded default
# creates it on first use; production requires it to exist (see cuspid/audit/signing.py).
CUSPID_AUDIT_SIGNING_KEY = env.audit_signing_key
CUSPID_AUDIT_SIGNING_KEY_CREATE = True
# Ed25519 key that signs clinicians' approvals of design revisions (cuspid.cases.approvals);
# kept outside the database, created on first use by the embedded default like the audit key.
CUSPID_APPROVAL_SIGNING_KEY = env.approval_signing_key
CUSPID_APPROVAL_SIGNING_KEY_CREATE = True
# The key hierarchy (cuspid.keys): the master key (KEK) keyset, created on first use by the
# embedded default, required to exist in production; the forget list of destroyed data keys,
# kept outside the database; the in-process cache of unwrapped data keys.
CUSPID_KEK_PATH = env.kek_path
# A KMS key that encrypts the KEK keyset file (Tink's AWS KMS integration), e.g.
# aws-kms://arn:aws:kms:ca-central-1:…:key/…; empty keeps the keyset file in the clear.
CUSPID_KEK_URI = env.kek_uri
CUSPID_KEK_CREATE = True
CUSPID_FORGET_LIST = env.forget_list
CUSPID_DEK_CACHE_SIZE = 1024
CUSPID_DEK_CACHE_SECONDS = env.dek_cache_seconds

# Uploads (scans, photos, PDFs): each file at most CUSPID_MAX_UPLOAD_MB, refused while it
# streams in (cuspid.core.uploads), and written to a temporary file on disk, never memory.
CUSPID_MAX_UPLOAD_BYTES = env.max_upload_mb * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "cuspid.core.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Security headers. CSP allows no inline script or style anywhere.
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Email: a file outbox by default, so nothing leaves the machine and nothing lands in logs.
if env.email_url:
    from urllib.parse import unquote, urlsplit

    _email = urlsplit(env.email_url)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or 587
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_TLS = _email.scheme == "smtp+tls"
    EMAIL_USE_SSL = _email.scheme == "smtps"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "outbox"
DEFAULT_FROM_EMAIL = env.default_from_email

# Celery: JSON only, late acknowledgement, retries with backoff (see config/celery.py).
# The embedded default keeps its queue in a SQLite file (kombu's SQLAlchemy transport), so
# tasks queued while no worker runs are still there after a restart.
CELERY_BROKER_URL = env.broker_url
CELERY_RESULT_BACKEND = env.result_backend
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 24 * 60 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if env.broker_url.startswith(("redis://", "rediss://")):
    # Redis redelivers a task whose worker died after an hour; a server that is down fails a
    # publish (and /readyz) in seconds instead of hanging it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 5}
elif env.broker_url.startswith(("sqla+sqlite:", "sqlalchemy+sqlite:")):
    # The SQLAlchemy transport hands its options to create_engine: wait up to 15 s for the
    # SQLite write lock the polling worker takes, rather than pysqlite's default 5 s.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 15}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery beat: sign an audit checkpoint every 10 minutes (a no-op when nothing new happened).
CELERY_BEAT_SCHEDULE: dict[str, Any] = {
    "audit-checkpoint": {"task": "audit.checkpoint", "schedule": 10 * 60.0},
    # Record break-glass expiries promptly (also done on the operator's next request).
    "break-glass-expire": {"task": "access.break_glass_expire", "schedule": 60.0},
    # Finish or remove blob uploads that a crash or a rollback left behind.
    "blobs-sweep": {"task": "keys.blobs_sweep", "schedule": 60 * 60.0},
}

NINJA_PAGINATION_PER_PAGE = 50

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "cuspid.core.logging.RedactFilter"}},
    "formatters": {"json": {"()": "cuspid.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.log_level},
    "loggers": {
        # Our RequestLogMiddleware writes the one access line per request; the server's own
        # access log would carry query strings.
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "django.server": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "django.request": {"level": "ERROR"},
        "celery": {"level": env.log_level},
        # Celery's "received" line carries the task's arguments and its "succeeded" line the
        # return value; tasks pass ids, but neither belongs in a log. Failures still log.
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
    },
}

SILENCED_SYSTEM_CHECKS = [
    # Email is unique case-insensitively (a UniqueConstraint on Lower("email")), which is
    # stricter than the plain unique=True this check looks for.
    "auth.W004",
]
