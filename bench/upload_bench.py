"""What a 100 MB scan upload costs the server: its peak memory growth, and its time against a
plain copy of the same file measured in the same run.

Run with ``python bench/upload_bench.py [MB]`` (default 100). In a temporary directory it
migrates a fresh SQLite database, creates a clinic, a clinician with an API token, a patient
and a draft case (``--setup``, this script in a child process), starts the ASGI server
(uvicorn, one process) on a free port, uploads one small scan to warm it up (imports, the data
key), resets the server's peak-RSS mark (``/proc/<pid>/clear_refs``), and streams a generated
arch-shaped binary STL of the given size to ``POST /api/v1/cases/{id}/attachments``. The
server's ``VmHWM`` (peak RSS) after the upload minus its ``VmRSS`` before it is the growth.

The baseline is a plain copy of the same file with its SHA-256 (what any upload must at least
do: read it once and write it once). Everything is removed at the end.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live import scratch_env, start_server  # noqa: E402 -- after the path is set

MIB = 1 << 20
CHUNK = 1 << 20


def _setup() -> None:
    """Child: a clinic, a clinician with a cases:write token, a patient and a draft case."""
    import datetime

    import django

    django.setup()
    from cuspid.accounts.models import ApiToken, User
    from cuspid.accounts.secrets import new_secret, secret_digest
    from cuspid.cases.services import CaseDetails, case_create
    from cuspid.core import clock
    from cuspid.patients.services import PatientDetails, patient_create
    from cuspid.tenancy.actor import Actor
    from cuspid.tenancy.enums import OrganizationKind, Role
    from cuspid.tenancy.services import membership_create, organization_create

    clinic = organization_create(
        kind=OrganizationKind.CLINIC,
        name="Bench",
        country="CA",
        region="CA-ON",
        time_zone="America/Toronto",
    )
    user = User.objects.create_user("bench@clinic.example", str(uuid.uuid4()))
    membership = membership_create(user=user, organization=clinic, role=Role.CLINICIAN)
    actor = Actor.of(membership, authenticated_at=clock.now())
    patient = patient_create(
        actor=actor,
        details=PatientDetails("Bench", "Patient", datetime.date(1970, 1, 1)),
    )
    case = case_create(
        actor=actor,
        patient=patient,
        details=CaseDetails(case_type="crown", teeth=[36], material="zirconia"),
    )
    # Set up directly: only an admin may create tokens, and they are bound to the admin.
    plain = new_secret("cspd_")
    ApiToken.objects.create(
        membership=membership,
        name="bench",
        token_hash=secret_digest(plain),
        hint="bench",
        scopes=["cases:write", "cases:read"],
        created_by=user,
        expires_at=clock.now() + datetime.timedelta(days=1),
    )
    print(json.dumps({"case": str(case.id), "token": plain}))


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _upload(port: int, token: str, case: str, path: Path) -> tuple[int, dict[str, object], float]:
    """Stream ``path`` as multipart ``file``; returns status, JSON body, seconds."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.stl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    connection.putrequest("POST", f"/api/v1/cases/{case}/attachments")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    for chunk in body():
        connection.send(chunk)
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    return response.status, payload, time.perf_counter() - start


def _plain_copy_seconds(source: Path, target: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return time.perf_counter() - start


def main(size_mb: int) -> None:
    from cuspid.web.demo_scans import arch_stl, write_large_arch_stl

    scratch = Path(tempfile.mkdtemp(prefix="cuspid-upload-bench-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        env = scratch_env(scratch)
        python = sys.executable
        # S603 below: this interpreter, running this project's own scripts.
        subprocess.run(  # noqa: S603
            [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        made = subprocess.run(  # noqa: S603
            [python, __file__, "--setup"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        setup = json.loads(made.stdout.decode().strip().splitlines()[-1])
        big = scratch / "big.stl"
        faces = write_large_arch_stl(big, size_mb * 1_000_000, seed=3)
        small = scratch / "small.stl"
        small.write_bytes(arch_stl(1))

        server, port = start_server(env)
        status, _body, _s = _upload(port, setup["token"], setup["case"], small)
        if status != 201 and status != 200:
            raise RuntimeError(f"warm-up upload answered {status}: {_body}")
        before = _status(server.pid)["VmRSS"]
        Path(f"/proc/{server.pid}/clear_refs").write_text("5", encoding="ascii")
        status, body, seconds = _upload(port, setup["token"], setup["case"], big)
        after = _status(server.pid)
        if status not in (200, 201):
            raise RuntimeError(f"upload answered {status}: {body}")
        growth = (after["VmHWM"] - before) / 1024
        baseline = _plain_copy_seconds(big, scratch / "copy.stl")
        size = big.stat().st_size
        print(f"scan: {size / 1e6:.1f} MB binary STL, {faces:,} triangles")
        print(f"server RSS before the upload:      {before / 1024:8.1f} MiB")
        print(f"server peak RSS during the upload: {after['VmHWM'] / 1024:8.1f} MiB")
        print(f"peak RSS growth:                   {growth:8.1f} MiB  (limit 100 MiB)")
        mb = size / 1e6
        print(f"upload (parse + encrypt + store):  {seconds:8.2f} s   {mb / seconds:7.1f} MB/s")
        print(f"plain copy + SHA-256 + fsync:      {baseline:8.2f} s   {mb / baseline:7.1f} MB/s")
        print(f"upload / plain copy:               {seconds / baseline:8.1f} x")
        print(f"stored: faces={body.get('face_count')} sha256={str(body.get('sha256'))[:12]}…")
        if growth >= 100:
            sys.exit(f"peak RSS growth {growth:.1f} MiB is over the 100 MiB budget")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--setup"]:
        _setup()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
