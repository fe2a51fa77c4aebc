"""``python manage.py keys_status``: the key hierarchy at a glance (ids, ages, counts).

Prints key ids (not secret) and counts, never key material and never who a key belongs to
beyond its kind; ``--list`` adds one line per data key with its owner's id.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, Min, Q, Sum

from cuspid.core import clock
from cuspid.keys.forget import forget_list_read
from cuspid.keys.kek import kek_keyset_load, kek_path
from cuspid.keys.keysets import key_ids
from cuspid.keys.models import DataKey, EncryptedBlob, OwnerKind


def _age(moment: datetime.datetime) -> str:
    days = (clock.now() - moment).days
    return f"{moment:%Y-%m-%d} ({days} d)"


class Command(BaseCommand):
    help = "Show the master key, the data keys and the encrypted files: ids, ages and counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", action="store_true", help="one line per data key")

    def handle(self, *args: Any, **options: Any) -> None:
        write = self.stdout.write
        handle = kek_keyset_load()
        primary = handle.keyset_info().primary_key_id
        path = kek_path()
        changed = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC)
        source = (
            f"encrypted by {settings.CUSPID_KEK_URI}"
            if settings.CUSPID_KEK_URI
            else "plaintext keyset file"
        )
        others = [str(key_id) for key_id in key_ids(handle) if key_id != primary]
        live = DataKey.objects.filter(destroyed_at__isnull=True)
        stale = live.exclude(kek_key_id=primary).count()
        write("Master key (KEK)")
        write(f"  file      {path} ({source}), changed {_age(changed)}")
        write(f"  primary   {primary}")
        write(f"  older     {', '.join(others) or '-'}")
        write(
            f"  re-wrap   {stale} data keys still wrapped by an older key"
            + (" (run keys_rotate_kek)" if stale else "")
        )
        write("")
        write("Data keys")
        write(f"  {'kind':<14}{'live':>7}{'rotating':>10}{'destroyed':>11}  oldest")
        rows = (
            DataKey.objects.values("owner_kind")
            .annotate(
                live=Count("id", filter=Q(destroyed_at__isnull=True)),
                rotating=Count("id", filter=Q(rotated_at__isnull=False)),
                destroyed=Count("id", filter=Q(destroyed_at__isnull=False)),
                oldest=Min("created_at"),
            )
            .order_by("owner_kind")
        )
        for row in rows:
            write(
                f"  {row['owner_kind']:<14}{row['live']:>7}{row['rotating']:>10}"
                f"{row['destroyed']:>11}  {_age(row['oldest'])}"
            )
        blobs = EncryptedBlob.objects.aggregate(count=Count("id"), size=Sum("size"))
        write("")
        write(f"Encrypted files  {blobs['count']} ({(blobs['size'] or 0) / 2**20:.1f} MiB)")
        write(f"Forget list      {len(forget_list_read())} destroyed keys")
        if options["list"]:
            write("")
            for key in DataKey.objects.order_by("owner_kind", "created_at"):
                state = (
                    "destroyed" if key.destroyed_at else "rotating" if key.rotated_at else "live"
                )
                write(
                    f"  {OwnerKind(key.owner_kind).value:<14}{key.owner_id}  key "
                    f"{key.primary_key_id:<12} {state:<10} {_age(key.created_at)}"
                )
