"""Throttle counters live in a cache every process shares (Redis in production).

Ten failed sign-ins through this process exhaust the account's and the IP's allowance; a
second Python process, configured only by ``CUSPID_CACHE_URL``, then finds both exhausted.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings

from config.env import BASE_DIR, env
from tests.conftest import redis_or_skip

REDIS_CACHE_DB = 14

CHECK_IN_ANOTHER_PROCESS = """
import json, sys
import django
django.setup()
from allauth.account.adapter import get_adapter
from allauth.core.internal import ratelimit
from django.test import RequestFactory
ip, email = sys.argv[1], sys.argv[2]
request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=ip)
key = get_adapter(request)._get_login_attempts_cache_key(request, email=email)
fresh = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.1")
print(json.dumps({
    "account": ratelimit.consume(fresh, app="allauth.account", action="login_failed",
                                 key=key, dry_run=True) is not None,
    "ip": ratelimit.consume(request, app="allauth.account", action="login_failed",
                            key="someone-else", dry_run=True) is not None,
    "other": ratelimit.consume(fresh, app="allauth.account", action="login_failed",
                               key="someone-else", dry_run=True) is not None,
}))
"""


@pytest.fixture
def redis_cache_url() -> Iterator[str]:
    url = urlsplit(env.redis_url)._replace(path=f"/{REDIS_CACHE_DB}").geturl()
    client = redis_or_skip(url)
    try:
        yield url
    finally:
        client.close()


@pytest.mark.redis
def test_sign_in_throttle_is_shared_between_processes_through_redis(
    db: None, redis_cache_url: str
) -> None:
    # A fresh address and account for this run, so parallel suites on one Redis never meet.
    ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    email = f"nobody-{uuid.uuid4().hex}@clinic.example"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_cache_url,
        }
    }
    with override_settings(CACHES=caches):
        client = Client(REMOTE_ADDR=ip)
        for _attempt in range(10):
            client.post("/accounts/login/", {"login": email, "password": "wrong password 123"})
        refused = client.post("/accounts/login/", {"login": email, "password": "wrong again 456"})
        assert b"Too many failed login attempts" in refused.content

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CUSPID_CACHE_URL": redis_cache_url,
        # RequestFactory's host, which the test client used for the account key too.
        "CUSPID_ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IN_ANOTHER_PROCESS, ip, email],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    allowed = json.loads(result.stdout.strip().splitlines()[-1])
    # The other process sees this account and this address exhausted, and nobody else.
    assert allowed == {"account": False, "ip": False, "other": True}
    assert settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
