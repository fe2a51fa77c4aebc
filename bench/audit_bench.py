"""How much the audit chain costs: 10,000 ``audit_emit`` calls against 10,000 plain inserts.

Run with ``make bench`` (SQLite; PostgreSQL too when CUSPID_DATABASE_URL points at it), or
``python bench/audit_bench.py [N]``. It works on a throwaway database that Django's test
runner creates and drops (``test_<name>``), so it never touches real audit data. The plain
table has the same columns as the audit table and is written one row per transaction, as
``audit_emit`` writes one event per transaction when the caller has none.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.db import connection, models, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from cuspid.audit.actions import AuditAction  # noqa: E402
from cuspid.audit.models import AuditEvent  # noqa: E402
from cuspid.audit.services import audit_emit  # noqa: E402
from cuspid.core import clock  # noqa: E402
from cuspid.core.actors import SystemActor  # noqa: E402


def _plain_model() -> type[models.Model]:
    """An unmanaged copy of AuditEvent's columns under another table name."""
    attrs: dict[str, object] = {
        "__module__": __name__,
        "Meta": type(
            "Meta",
            (),
            {
                "app_label": "audit",
                "db_table": "bench_plain_event",
                "managed": False,
            },
        ),
    }
    for field in AuditEvent._meta.concrete_fields:
        attrs[field.name] = field.clone()
    return type("BenchPlainEvent", (models.Model,), attrs)


def _emit_audited(n: int) -> float:
    actor = SystemActor(reason="bench")
    start = time.perf_counter()
    for i in range(n):
        audit_emit(action=AuditAction.Record.Read, actor=actor, target_id=str(i))
    return time.perf_counter() - start


def _insert_plain(model: type[models.Model], n: int) -> float:
    # The same values as the audited rows (64-character hashes included), made up front:
    # the baseline is the insert alone.
    template = AuditEvent.objects.order_by("sequence").values()[0]
    rows = [dict(template, sequence=i + 1, target_id=str(i)) for i in range(n)]
    start = time.perf_counter()
    for row in rows:
        with transaction.atomic():
            model.objects.create(**(row | {"occurred_at": clock.now()}))
    return time.perf_counter() - start


def main(n: int) -> None:
    setup_test_environment()
    if connection.vendor == "sqlite":
        # A file with WAL, as the embedded default runs, not the test runner's in-memory one.
        scratch = Path(tempfile.mkdtemp(prefix="cuspid-bench-"))
        connection.settings_dict["TEST"]["NAME"] = str(scratch / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        plain = _plain_model()
        with connection.schema_editor() as editor:
            editor.create_model(plain)
        audited = _emit_audited(n)
        baseline = _insert_plain(plain, n)
        print(
            f"{connection.vendor}: {n} audited events {audited:.2f} s "
            f"({n / audited:,.0f}/s), {n} plain rows {baseline:.2f} s "
            f"({n / baseline:,.0f}/s), ratio {audited / baseline:.2f}x"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
