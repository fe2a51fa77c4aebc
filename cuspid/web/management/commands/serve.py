"""``python manage.py serve``: the web server and a Celery worker together, for ``make run``.

Both run as child processes, each in its own process group, so a Ctrl-C in the terminal
reaches this command alone and it stops them in order: SIGTERM to both (uvicorn finishes its
requests, the worker its current task), then SIGKILL to whatever is still running after the
grace period. SIGINT, SIGTERM and SIGHUP all stop it, any number of times (``uv run`` forwards
the terminal's SIGINT, so it arrives twice). If either child exits on its own the other is
stopped too and the command fails, so the platform is never half up. On Linux the children
also receive SIGTERM if this process dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

STOP_GRACE_SECONDS = 15
WEB_GRACE_SECONDS = 10
START_TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return hook


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=POLL_SECONDS):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Serve the platform (uvicorn on the ASGI app) with a Celery worker beside it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.CUSPID_HOST)
        parser.add_argument("--port", type=int, default=settings.CUSPID_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop)

        if _port_open(host, port):
            raise CommandError(f"{host}:{port} is already in use; choose another CUSPID_PORT.")
        children = self._start(host, port)
        failure = ""
        try:
            announced = False
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not stopping:
                exited = [
                    f"{n} (exit code {p.returncode})"
                    for n, p in children.items()
                    if p.poll() is not None
                ]
                if exited:
                    failure = f"Cuspid stopped because a process exited: {', '.join(exited)}"
                    break
                if not announced and _port_open(host, port):
                    announced = True
                    self.stdout.write(
                        f"\nCuspid is running at http://{host}:{port}/ "
                        "(Ctrl-C stops the web server and the worker)\n"
                    )
                    self.stdout.flush()
                elif not announced and time.monotonic() > deadline:
                    failure = f"The web server did not open port {port} in time."
                    break
                time.sleep(POLL_SECONDS if not announced else 0.5)
        finally:
            codes = self._stop(children)
        if failure:
            raise CommandError(failure)
        # uvicorn re-raises the SIGTERM it handled once it has shut down, so -SIGTERM is clean.
        unclean = [
            f"{name} (exit code {code})"
            for name, code in codes.items()
            if code not in (0, -signal.SIGTERM)
        ]
        if unclean:
            raise CommandError(f"Cuspid stopped, but not cleanly: {', '.join(unclean)}")
        self.stdout.write("Cuspid stopped.")

    def _start(self, host: str, port: int) -> dict[str, subprocess.Popen[bytes]]:
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--no-access-log",
                "--no-server-header",
                # uvicorn's own lines as JSON too; Cuspid writes the access line itself.
                "--log-config",
                str(Path(settings.BASE_DIR) / "config" / "uvicorn-logging.json"),
                "--lifespan",
                "off",
                "--timeout-graceful-shutdown",
                str(WEB_GRACE_SECONDS),
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "--quiet",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--hostname",
                "cuspid@%h",
                "--loglevel",
                "INFO",
                # Celery beat inside the worker (a child process of it) runs the periodic
                # tasks of CELERY_BEAT_SCHEDULE, e.g. the audit checkpoint every 10 minutes.
                "--beat",
                "--schedule",
                str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
                # The embedded broker has no fanout exchange; one worker needs neither.
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        }
        hook = _die_with_parent()
        children: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, argv in commands.items():
                children[name] = subprocess.Popen(  # noqa: S603 -- fixed argv, our own interpreter
                    argv, cwd=settings.BASE_DIR, process_group=0, preexec_fn=hook
                )
        except BaseException:
            self._stop(children)
            raise
        return children

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
        """Stop the children; return their exit codes (negative: killed by that signal)."""
        for process in children.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} process did not stop in time; killing it.")
                process.kill()
                process.wait()
        for process in children.values():
            # Each child leads its own process group; what it started (the worker's embedded
            # beat) would outlive a worker that was killed hard, so the group is stopped too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        return {name: process.returncode for name, process in children.items()}
