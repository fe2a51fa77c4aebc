"""``manage.py serve`` (what ``make run`` ends with): web server and worker up, then both down.

Runs the embedded default in a fresh var directory: SQLite database, SQLite broker, local
blobs. /readyz must report every check ok; one SIGINT must stop the command and both of its
children cleanly.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.worker

REPO = Path(settings.BASE_DIR)
MIGRATE_TIMEOUT = 180
READY_TIMEOUT = 120
STOP_TIMEOUT = 25
# Celery's "<hostname> ready." line; serve names its worker cuspid@<host>.
WORKER_READY = re.compile(r"cuspid@\S+ ready\.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _embedded_env(var_dir: Path) -> dict[str, str]:
    """The environment of ``make run``: no CUSPID_* setting leaks in from the test run."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("CUSPID_")}
    child.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CUSPID_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    return child


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; the parent pid follows its ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 -- our own http URL
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=REPO,
        env=_embedded_env(path),
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path


@pytest.fixture
def serve(var_dir: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``manage.py serve`` on a free port; whatever is left running afterwards is killed."""
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=_embedded_env(var_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: list[int] = []
    try:
        yield process, port, log_path
    finally:
        if process.poll() is None:
            children = _children(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> list[int]:
    """Poll /readyz (bounded) until 200 and the worker's ready line; return serve's children."""
    deadline = time.monotonic() + READY_TIMEOUT
    status, body = 0, dict[str, object]()
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited early:\n{_tail(log_path)}"
        try:
            status, body = _get_json(f"http://127.0.0.1:{port}/readyz")
        except OSError:
            status = 0  # not listening yet
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, f"not ready in {READY_TIMEOUT} s: {body}\n{_tail(log_path)}"
    assert body == {"status": "ok", "checks": {"database": "ok", "blobs": "ok", "broker": "ok"}}
    while not WORKER_READY.search(_tail(log_path, 100_000)):
        assert time.monotonic() < deadline, f"the worker did not start:\n{_tail(log_path)}"
        time.sleep(0.5)
    children = _children(process.pid)
    assert len(children) == 2, "a web server and a worker"
    return children


def _is_worker(pid: int) -> bool:
    return b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes()


def _wait_for_exit(process: subprocess.Popen[bytes], log_path: Path) -> int:
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve did not stop in {STOP_TIMEOUT} s:\n{_tail(log_path)}")


def test_serve_is_ready_then_stops_web_and_worker_on_ctrl_c(
    serve: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, log_path = serve
    children = _wait_until_ready(process, port, log_path)
    base = f"http://127.0.0.1:{port}"
    assert _get_json(f"{base}/healthz") == (200, {"status": "ok"})
    assert f"Cuspid is running at {base}/" in _tail(log_path, 100_000)

    process.send_signal(signal.SIGINT)
    code = _wait_for_exit(process, log_path)

    # serve exits 0 only when neither child failed nor had to be killed after the grace time.
    assert code == 0, _tail(log_path)
    assert "Cuspid stopped." in _tail(log_path)
    assert not [pid for pid in children if _alive(pid)], "web server and worker are gone"
    assert "Warm shutdown" in _tail(log_path), "the worker shut down gracefully"


def test_serve_stops_the_web_server_when_the_worker_dies(
    serve: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, log_path = serve
    children = _wait_until_ready(process, port, log_path)
    (worker,) = [pid for pid in children if _is_worker(pid)]

    os.kill(worker, signal.SIGKILL)
    code = _wait_for_exit(process, log_path)

    assert code == 1, "never half up: the platform stops and says so"
    assert "a process exited: worker (exit code -9)" in _tail(log_path)
    assert not [pid for pid in children if _alive(pid)]


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=_embedded_env(tmp_path / "var"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )

    assert done.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in done.stderr
