"""The one reader of environment variables.

Every setting Cuspid reads is named ``CUSPID_*``, parsed and validated here once, and
listed with its default in the README. Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def _bool(name: str, default: bool) -> bool:
    value = _raw(name, "1" if default else "0").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def _int(name: str, default: int) -> int:
    value = _raw(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def _list(name: str, default: str) -> list[str]:
    return [item.strip() for item in _raw(name, default).split(",") if item.strip()]


@dataclass(frozen=True)
class Env:
    """Typed view of the process environment. Field names mirror ``CUSPID_<NAME>``."""

    var_dir: Path
    secret_key: str
    debug: bool
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    database_url: str
    broker_url: str
    result_backend: str
    blob_dir: Path
    host: str
    port: int
    log_level: str
    email_url: str
    default_from_email: str
    redis_url: str
    cache_url: str
    trusted_proxy_count: int
    require_all: bool
    audit_signing_key: Path
    approval_signing_key: Path
    kek_path: Path
    kek_uri: str
    forget_list: Path
    blob_s3_bucket: str
    dek_cache_seconds: int
    max_upload_mb: int

    @classmethod
    def load(cls) -> Env:
        var_dir = Path(_raw("CUSPID_VAR_DIR", str(BASE_DIR / "var"))).resolve()
        max_upload_mb = _int("CUSPID_MAX_UPLOAD_MB", 200)
        if max_upload_mb < 1:
            raise ImproperlyConfigured(
                f"CUSPID_MAX_UPLOAD_MB must be at least 1, not {max_upload_mb}"
            )
        return cls(
            var_dir=var_dir,
            secret_key=_raw("CUSPID_SECRET_KEY", ""),
            debug=_bool("CUSPID_DEBUG", False),
            allowed_hosts=_list("CUSPID_ALLOWED_HOSTS", "127.0.0.1,localhost"),
            csrf_trusted_origins=_list("CUSPID_CSRF_TRUSTED_ORIGINS", ""),
            database_url=_raw("CUSPID_DATABASE_URL", f"sqlite:///{var_dir / 'cuspid.sqlite3'}"),
            broker_url=_raw("CUSPID_BROKER_URL", f"sqla+sqlite:///{var_dir / 'broker.sqlite3'}"),
            result_backend=_raw(
                "CUSPID_RESULT_BACKEND", f"db+sqlite:///{var_dir / 'results.sqlite3'}"
            ),
            blob_dir=Path(_raw("CUSPID_BLOB_DIR", str(var_dir / "blobs"))).resolve(),
            host=_raw("CUSPID_HOST", "127.0.0.1"),
            port=_int("CUSPID_PORT", 8000),
            log_level=_raw("CUSPID_LOG_LEVEL", "INFO").upper(),
            email_url=_raw("CUSPID_EMAIL_URL", ""),
            default_from_email=_raw("CUSPID_DEFAULT_FROM_EMAIL", "Cuspid <no-reply@localhost>"),
            redis_url=_raw("CUSPID_REDIS_URL", "redis://127.0.0.1:6379/0"),
            cache_url=_raw("CUSPID_CACHE_URL", ""),
            trusted_proxy_count=_int("CUSPID_TRUSTED_PROXY_COUNT", 0),
            require_all=_bool("CUSPID_REQUIRE_ALL", False),
            audit_signing_key=Path(
                _raw("CUSPID_AUDIT_SIGNING_KEY", str(var_dir / "keys" / "audit_signing_key.pem"))
            ).resolve(),
            approval_signing_key=Path(
                _raw(
                    "CUSPID_APPROVAL_SIGNING_KEY",
                    str(var_dir / "keys" / "approval_signing_key.pem"),
                )
            ).resolve(),
            kek_path=Path(_raw("CUSPID_KEK_PATH", str(var_dir / "keys" / "kek.json"))).resolve(),
            kek_uri=_raw("CUSPID_KEK_URI", ""),
            forget_list=Path(
                _raw("CUSPID_FORGET_LIST", str(var_dir / "keys" / "forget-list"))
            ).resolve(),
            blob_s3_bucket=_raw("CUSPID_BLOB_S3_BUCKET", ""),
            dek_cache_seconds=_int("CUSPID_DEK_CACHE_SECONDS", 300),
            max_upload_mb=max_upload_mb,
        )


env = Env.load()
