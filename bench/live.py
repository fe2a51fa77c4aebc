"""A real server for the benchmarks: the embedded default under uvicorn on a free port, with
its own scratch ``var`` directory. Shared by ``upload_bench.py`` and ``viewer_bench.py``."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch_env(scratch: Path) -> dict[str, str]:
    """The environment of a bench process: none of the caller's Cuspid or AWS settings, a var
    directory under ``scratch``, uploads up to 400 MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSPID_", "AWS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CUSPID_VAR_DIR=str(scratch / "var"),
        CUSPID_MAX_UPLOAD_MB="400",
        PYTHONPATH=str(ROOT),
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn serving ``config.asgi`` on a free port, once ``/healthz`` answers 200; the
    process and its port. Raises RuntimeError if it exits or does not answer in 60 s."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)]
    server = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
        [*command, "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server, port
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("the server did not start")
