"""The 3D viewer's time to first render of a 200,000-triangle revision, against the time to
download the same bytes, measured in the same page of the same run.

Run with ``python bench/viewer_bench.py [faces] [runs]`` (defaults 200000 and 3). In a
temporary directory it migrates a fresh SQLite database, collects the static files (the built
viewer: run ``npm run build`` first), and (``--setup``, this script in a child process) creates
a clinic and a lab, a clinician and a designer, a patient and a case with one generated scan,
sends it, accepts it and uploads revision 1 whose proposal is a generated arch-shaped binary
STL with about ``faces`` triangles; then signs the clinician in (a session cookie). It starts
the ASGI server (uvicorn, one process) on a free port and opens the revision's review page in
headless Chromium ``runs`` times.

Each run reads ``window.cuspidViewerTiming`` once the viewer has set ``data-rendered="true"``:
the time from the viewer's start to its first frame with every mesh drawn (download, parse in
the Web Worker, upload to the GPU, draw), and from the page's navigation start. Then, in the
same page, it fetches the same mesh URLs again (the same authenticated, audited, decrypting
endpoint, in parallel like the viewer) and times that download alone. The ratio is the
viewer's price over the bare download. The longest main-thread task seen while the page loaded
(Long Tasks API) tells whether the page froze. Everything is removed at the end.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live import scratch_env, start_server  # noqa: E402 -- after the path is set

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Collected from the first script on: every main-thread task over 50 ms while the page loads.
LONG_TASKS = """
window.cuspidLongTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.cuspidLongTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
} catch (error) {}
"""
# The same bytes again, in the same page: the URLs the viewer fetched, in parallel.
DOWNLOAD_AGAIN = """
async (urls) => {
  const start = performance.now();
  const sizes = await Promise.all(urls.map(async (url) => {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    return (await response.arrayBuffer()).byteLength;
  }));
  return { ms: performance.now() - start, bytes: sizes.reduce((a, b) => a + b, 0) };
}
"""


def _setup(stl: Path) -> None:
    """Child: the two organisations, their members, a case and its 200k-face revision."""
    import datetime
    import io

    import django

    django.setup()
    from django.test import Client

    from cuspid.accounts.models import User
    from cuspid.accounts.services.mfa import totp_enrol_with_secret
    from cuspid.cases.services import (
        CaseDetails,
        Upload,
        attachment_add,
        case_create,
        case_send,
        case_transition,
        revision_create,
    )
    from cuspid.core import clock
    from cuspid.core.actors import SystemActor
    from cuspid.patients.services import PatientDetails, patient_create
    from cuspid.tenancy.actor import Actor
    from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
    from cuspid.tenancy.services import (
        lab_connection_create,
        membership_create,
        organization_create,
    )
    from cuspid.web.demo_scans import arch_stl

    def organization(kind: OrganizationKind, name: str):  # type: ignore[no-untyped-def]  # a script
        return organization_create(
            kind=kind, name=name, country="CA", region="CA-ON", time_zone="America/Toronto"
        )

    def member(email: str, org, role: Role) -> Actor:  # type: ignore[no-untyped-def]  # a script
        user = User.objects.create_user(email, str(uuid.uuid4()))
        totp_enrol_with_secret(
            actor=SystemActor(reason="bench"),
            user=user,
            secret="JBSWY3DPEHPK3PXP",  # noqa: S106 -- a throwaway bench account's TOTP seed
        )
        return Actor.of(
            membership_create(user=user, organization=org, role=role),
            authenticated_at=clock.now(),
        )

    clinic = organization(OrganizationKind.CLINIC, "Bench clinic")
    lab = organization(OrganizationKind.LAB, "Bench lab")
    lab_connection_create(clinic=clinic, lab=lab, status=ConnectionStatus.ACTIVE)
    clinician = member("bench@clinic.example", clinic, Role.CLINICIAN)
    designer = member("bench@lab.example", lab, Role.DESIGNER)
    patient = patient_create(
        actor=clinician, details=PatientDetails("Bench", "Patient", datetime.date(1970, 1, 1))
    )
    case = case_create(
        actor=clinician,
        patient=patient,
        details=CaseDetails(case_type="crown", teeth=[36], material="zirconia"),
    )
    scan = Upload(file=io.BytesIO(arch_stl(1, jaw="lower")), filename="scan.stl")
    attachment_add(actor=clinician, case=case, upload=scan)
    case = case_send(actor=clinician, case=case, lab_id=lab.id)
    case = case_transition(actor=designer, case=case, action="accept")
    with stl.open("rb") as design:
        revision = revision_create(
            actor=designer, case=case, uploads=[Upload(file=design, filename="design.stl")]
        )
    browser = Client()
    browser.force_login(clinician.user)
    print(json.dumps({"revision": str(revision.id), "session": browser.cookies["sessionid"].value}))


def _measure(base: str, setup: dict[str, str], runs: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "sessionid", "value": setup["session"], "url": base}])
            context.add_init_script(LONG_TASKS)
            page = context.new_page()
            for _ in range(runs):
                page.goto(f"{base}/revisions/{setup['revision']}/")
                page.wait_for_selector(
                    '[data-cuspid-viewer][data-rendered="true"]', timeout=120_000
                )
                timing = page.evaluate("() => window.cuspidViewerTiming.viewer")
                config = json.loads(page.locator("#viewer-config").text_content() or "{}")
                urls = [mesh["url"] for mesh in config["meshes"]]
                again = page.evaluate(DOWNLOAD_AGAIN, urls)
                longest = page.evaluate("() => Math.max(0, ...window.cuspidLongTasks)")
                results.append(
                    {
                        "viewer_ms": timing["firstRenderMs"] - timing["startMs"],
                        "page_ms": timing["firstRenderMs"],
                        "viewer_download_ms": timing["downloadedMs"] - timing["startMs"],
                        "parse_ms": timing["parsedMs"] - timing["downloadedMs"],
                        "draw_ms": timing["firstDrawMs"],
                        "download_ms": again["ms"],
                        "bytes": again["bytes"],
                        "faces": timing["faces"],
                        "longest_task_ms": longest,
                    }
                )
        finally:
            browser.close()
    return results


def main(faces: int, runs: int) -> None:
    from cuspid.web.demo_scans import write_large_arch_stl

    scratch = Path(tempfile.mkdtemp(prefix="cuspid-viewer-bench-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        env = scratch_env(scratch)
        python = sys.executable
        # S603 below: this interpreter, running this project's own scripts.
        for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
            subprocess.run(  # noqa: S603
                [python, "manage.py", *command], cwd=ROOT, env=env, check=True
            )
        stl = scratch / "design.stl"
        # The upper arch in occlusion with the case's lower scan, as a scanner exports them.
        written = write_large_arch_stl(stl, 84 + 50 * faces, seed=3, bite=True)
        made = subprocess.run(  # noqa: S603
            [python, __file__, "--setup", str(stl)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        setup = json.loads(made.stdout.decode().strip().splitlines()[-1])

        server, port = start_server(env)
        results = _measure(f"http://127.0.0.1:{port}", setup, runs)

        def median(key: str) -> float:
            return statistics.median(result[key] for result in results)

        mb = results[0]["bytes"] / 1e6
        print(f"revision: {written:,}-triangle binary STL proposal + one 4,608-triangle scan")
        print(f"bytes the viewer loads: {mb:.1f} MB; {int(results[0]['faces']):,} triangles drawn")
        print(f"runs: {runs} (median shown; each run a fresh page load)")
        print(f"viewer start -> first frame, all meshes:  {median('viewer_ms'):8.0f} ms")
        print(f"  of which downloading:                  {median('viewer_download_ms'):8.0f} ms")
        print(f"  then the last parse (Web Worker):      {median('parse_ms'):8.0f} ms")
        print(f"  first draw (GPU upload, shaders):      {median('draw_ms'):8.0f} ms")
        print(f"navigation start -> first frame:         {median('page_ms'):8.0f} ms")
        print(f"download of the same bytes, same page:   {median('download_ms'):8.0f} ms")
        ratio = median("viewer_ms") / median("download_ms")
        print(f"first frame / download:                  {ratio:8.2f} x")
        print(f"longest main-thread task while loading:  {median('longest_task_ms'):8.0f} ms")
        for number, result in enumerate(results, 1):
            print(
                f"  run {number}: viewer {result['viewer_ms']:.0f} ms, download "
                f"{result['download_ms']:.0f} ms, ratio "
                f"{result['viewer_ms'] / result['download_ms']:.2f}, longest task "
                f"{result['longest_task_ms']:.0f} ms"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--setup"]:
        _setup(Path(sys.argv[2]))
    else:
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 200_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 3,
        )
