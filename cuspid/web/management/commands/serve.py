"""``python manage.py serve``: the web server and a Celery worker together, for ``make run``.

Both run as child processes; Ctrl-C (SIGINT) or SIGTERM stops both cleanly, and if either
exits on its own the other is stopped too, so the platform is never half up.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Serve the platform (uvicorn on the ASGI app) with a Celery worker beside it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.CUSPID_HOST)
        parser.add_argument("--port", type=int, default=settings.CUSPID_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        python = sys.executable
        children = {
            "web": subprocess.Popen(  # noqa: S603 -- fixed argv, our own interpreter
                [
                    python,
                    "-m",
                    "uvicorn",
                    "config.asgi:application",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--lifespan",
                    "off",
                ],
            ),
            "worker": subprocess.Popen(  # noqa: S603 -- fixed argv, our own interpreter
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                ],
            ),
        }
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"\nCuspid is running at http://{host}:{port}/  (Ctrl-C stops it)\n")
        while not stopping and all(p.poll() is None for p in children.values()):
            time.sleep(0.5)
        for process in children.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it")
                process.kill()
                process.wait()
        self.stdout.write("Cuspid stopped.")
