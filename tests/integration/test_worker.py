"""Background work: the Celery app's defaults, and a trivial task through a real worker.

The worker tests queue ``core.ping`` from a process that then exits, before any worker runs,
and only then start ``celery -A config worker``: the task is still there (on the embedded
broker, in its SQLite file), so queued work survives a restart. The Redis test runs the same
through Redis (CI requires it). Each run uses a queue of its own, so suites running side by
side on one Redis never take each other's tasks.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from celery import Celery, current_app
from django.conf import settings

from config.celery import CuspidTask, sweep_delivered_messages
from config.env import Env, env
from cuspid.core.tasks import ping
from tests.conftest import redis_or_skip

REPO = Path(settings.BASE_DIR)
ENQUEUE_TIMEOUT = 60
RESULT_TIMEOUT = 60
STOP_TIMEOUT = 20
# A database of its own on the CI Redis; nothing outside it is touched.
REDIS_TEST_DB = 15

ENQUEUE = """
import sys
from config.celery import app
print(app.send_task("core.ping", args=[sys.argv[1]], queue=sys.argv[2]).id)
"""


@dataclass(frozen=True)
class Setup:
    """One worker test: the environment of its processes, its queue and its token."""

    env: dict[str, str]
    queue: str
    token: str

    @classmethod
    def make(cls, var_dir: Path, broker_url: str, result_backend: str) -> Setup:
        # A fresh process's environment: no CUSPID_* setting leaks in from the test run.
        child = {k: v for k, v in os.environ.items() if not k.startswith("CUSPID_")}
        child.update(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            CUSPID_VAR_DIR=str(var_dir),
            CUSPID_BROKER_URL=broker_url,
            CUSPID_RESULT_BACKEND=result_backend,
            CUSPID_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        unique = uuid.uuid4().hex
        return cls(env=child, queue=f"test-{unique[:12]}", token=unique)


def _enqueue_and_exit(setup: Setup) -> str:
    """Queue ``core.ping`` with the real app from a short-lived process; return the task id."""
    done = subprocess.run(
        [sys.executable, "-c", ENQUEUE, setup.token, setup.queue],
        cwd=REPO,
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=ENQUEUE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


StartWorker = Callable[[Setup], tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``celery -A config worker`` (solo pool) in a session of its own; always stop it."""
    started: list[subprocess.Popen[bytes]] = []

    def start(setup: Setup) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool",
                    "solo",
                    "--concurrency",
                    "1",
                    "--queues",
                    setup.queue,
                    "--hostname",
                    f"{setup.queue}@%h",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=REPO,
                env=setup.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(worker)
        return worker, log_path

    yield start

    for worker in started:
        _stop(worker)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM) of the worker's process group; SIGKILL if it lingers."""
    if worker.poll() is not None:
        return
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=STOP_TIMEOUT)
    except ProcessLookupError:
        worker.wait(timeout=STOP_TIMEOUT)


def _ping_through_a_worker(start_worker: StartWorker, setup: Setup, task_id: str) -> None:
    """Start a worker on the queued task, wait (bounded) for its result, stop the worker."""
    # A separate app reads the result, so the suite's own Celery app stays untouched.
    client = Celery(
        "cuspid-test-client",
        broker=setup.env["CUSPID_BROKER_URL"],
        backend=setup.env["CUSPID_RESULT_BACKEND"],
        set_as_current=False,
    )
    client.conf.update(accept_content=["json"], result_accept_content=["json"])
    try:
        result = client.AsyncResult(task_id)
        assert result.state == "PENDING"
        worker, log_path = start_worker(setup)
        deadline = time.monotonic() + RESULT_TIMEOUT
        while not result.ready():
            if worker.poll() is not None:
                pytest.fail(f"the worker exited ({worker.returncode}):\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no result within {RESULT_TIMEOUT} s:\n{_tail(log_path)}")
            time.sleep(0.25)
        assert result.successful(), _tail(log_path)
        assert result.get(timeout=5) == f"pong:{setup.token}"
        # Task arguments and results never reach the worker's log.
        assert setup.token not in _tail(log_path, 100_000)
        _stop(worker)
        assert worker.returncode == 0, f"warm shutdown, exit code 0:\n{_tail(log_path)}"
    finally:
        client.close()


# The app's configuration -----------------------------------------------------------------


def test_the_app_speaks_json_only() -> None:
    conf = current_app.conf

    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.result_accept_content == ["json"]


def test_tasks_acknowledge_late_and_retry_with_backoff_by_default() -> None:
    conf = current_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1

    assert isinstance(ping, CuspidTask), "every task gets the app's default task class"
    assert ping.acks_late is True
    assert ping.autoretry_for == (Exception,)
    assert ping.retry_backoff is True
    assert ping.retry_jitter is True
    assert ping.max_retries == 5
    assert ping.retry_backoff_max == 600
    assert ping("x") == "pong:x"


def test_the_default_broker_and_results_are_sqlite_files_in_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CUSPID_BROKER_URL", "CUSPID_RESULT_BACKEND", "CUSPID_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUSPID_VAR_DIR", str(tmp_path))

    loaded = Env.load()

    assert loaded.broker_url == f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    assert loaded.result_backend == f"db+sqlite:///{tmp_path / 'results.sqlite3'}"
    assert loaded.database_url == f"sqlite:///{tmp_path / 'cuspid.sqlite3'}"


def test_broker_and_results_switch_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSPID_BROKER_URL", "amqp://cuspid@rabbit.internal:5672//")
    monkeypatch.setenv("CUSPID_RESULT_BACKEND", "redis://redis.internal:6379/1")

    loaded = Env.load()

    assert loaded.broker_url == "amqp://cuspid@rabbit.internal:5672//"
    assert loaded.result_backend == "redis://redis.internal:6379/1"


def _broker_rows(broker_file: Path) -> list[bool]:
    """The embedded broker's messages, as their ``visible`` flags, oldest first."""
    with closing(sqlite3.connect(broker_file)) as db:
        return [bool(v) for (v,) in db.execute("SELECT visible FROM kombu_message ORDER BY id")]


def test_the_worker_sweeps_delivered_messages_from_the_embedded_broker(tmp_path: Path) -> None:
    broker_file = tmp_path / "broker.sqlite3"
    embedded = Celery(
        "cuspid-test-broker", broker=f"sqla+sqlite:///{broker_file}", set_as_current=False
    )
    embedded.conf.update(task_serializer="json", accept_content=["json"])
    try:
        embedded.send_task("core.ping", args=["first"])
        embedded.send_task("core.ping", args=["second"])
        with embedded.connection_for_read() as broker:
            queue = broker.SimpleQueue(embedded.conf.task_default_queue)
            delivered = queue.get(timeout=10)
            assert delivered.payload is not None
            delivered.ack()
            queue.close()
        assert _broker_rows(broker_file) == [False, True], "kombu keeps the delivered row"

        assert sweep_delivered_messages(embedded) == 1
        assert _broker_rows(broker_file) == [True], "the waiting message stays"
        assert sweep_delivered_messages(embedded) == 0
    finally:
        embedded.close()


def test_the_sweep_leaves_other_brokers_alone() -> None:
    elsewhere = Celery("cuspid-test-memory", broker="memory://", set_as_current=False)
    try:
        assert sweep_delivered_messages(elsewhere) == 0
    finally:
        elsewhere.close()


# A real worker ---------------------------------------------------------------------------


def _waiting_messages(broker_file: Path) -> int:
    with closing(sqlite3.connect(broker_file)) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM kombu_message WHERE visible").fetchone()
    return int(count)


@pytest.mark.worker
def test_a_task_queued_before_any_worker_runs_on_the_embedded_broker(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    broker_file = tmp_path / "broker.sqlite3"
    setup = Setup.make(
        tmp_path,
        broker_url=f"sqla+sqlite:///{broker_file}",
        result_backend=f"db+sqlite:///{tmp_path / 'results.sqlite3'}",
    )

    task_id = _enqueue_and_exit(setup)
    assert _waiting_messages(broker_file) == 1, "kept in the SQLite file, no process running"

    _ping_through_a_worker(start_worker, setup, task_id)
    assert _waiting_messages(broker_file) == 0


def _redis_url(db: int) -> str:
    return urlsplit(env.redis_url)._replace(path=f"/{db}").geturl()


@pytest.fixture
def redis_test_db() -> Iterator[redis.Redis]:
    """Database 15 on CUSPID_REDIS_URL's server; the keys a test made there are removed."""
    client = redis_or_skip(_redis_url(REDIS_TEST_DB))
    try:
        yield client
    finally:
        client.close()


@pytest.mark.worker
@pytest.mark.redis
def test_a_task_runs_through_a_real_worker_on_redis(
    tmp_path: Path, start_worker: StartWorker, redis_test_db: redis.Redis
) -> None:
    url = _redis_url(REDIS_TEST_DB)
    setup = Setup.make(tmp_path, broker_url=url, result_backend=url)
    result_key = ""
    try:
        task_id = _enqueue_and_exit(setup)
        result_key = f"celery-task-meta-{task_id}"
        assert redis_test_db.llen(setup.queue) == 1, "queued in Redis, no worker running"

        _ping_through_a_worker(start_worker, setup, task_id)
        assert redis_test_db.llen(setup.queue) == 0
        assert redis_test_db.exists(result_key), "the result is kept in Redis"
    finally:
        # Only this test's queue, binding and result go; other runs' keys stay.
        bindings = [f"_kombu.binding.{setup.queue}", f"_kombu.binding_permanent.{setup.queue}"]
        keys = [setup.queue, *bindings, result_key]
        redis_test_db.delete(*[key for key in keys if key])
