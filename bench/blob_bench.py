"""What the encrypted blob store costs: storing a 256 MiB file encrypted (``blob_put``) against
a plain copy through the same ``FileSystemStorage``, and the peak memory while storing 1 GiB.

Run with ``python bench/blob_bench.py [MiB] [RSS-MiB]`` (defaults 256 and 1024). It works in a
temporary directory (the source files, the storage, the KEK) and on a throwaway database that
Django's test runner creates and drops, as bench/audit_bench.py does; all of it is removed at
the end. Each store runs three times; the table shows the median.

``blob_put`` forces the file to disk (fsync) before its row can commit, which a plain
``storage.save`` does not do; the table therefore also shows a plain copy followed by the same
fsync, the like-for-like baseline for the cost of encryption alone.

The memory figure comes from a child process (this script with ``--child``) that stores the
large file encrypted: its peak RSS (``getrusage(RUSAGE_CHILDREN)``) minus its RSS just before
the store, after one small warm-up store has loaded everything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files import File  # noqa: E402
from django.core.files.storage import FileSystemStorage  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from cuspid.keys import blobs  # noqa: E402
from cuspid.keys.blobs import CHUNK_SIZE, blob_chunks, blob_delete, blob_put  # noqa: E402
from cuspid.keys.models import OwnerKind  # noqa: E402

MIB = 1 << 20
RUNS = 3


def _use_keys_in(scratch: Path) -> None:
    """A KEK and a forget list of the bench's own, never the real ones."""
    settings.CUSPID_KEK_PATH = scratch / "keys" / "kek.json"
    settings.CUSPID_FORGET_LIST = scratch / "keys" / "forget-list"


def _make_source(path: Path, size: int) -> None:
    """``size`` bytes of random data (incompressible, like a scan), written in 1 MiB chunks."""
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))


def _rss_kib() -> int:
    """The current resident set size of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _fsync(path: str) -> None:
    for target in (path, os.path.dirname(path)):
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _median_mb_s(size: int, run: Callable[[], Callable[[], None]]) -> float:
    """Median throughput over RUNS runs; ``run`` stores once and returns its clean-up."""
    speeds = []
    for _ in range(RUNS):
        start = time.perf_counter()
        clean_up = run()
        speeds.append(size / 1e6 / (time.perf_counter() - start))
        clean_up()
    return statistics.median(speeds)


def _throughput(scratch: Path, size: int) -> dict[str, float]:
    source = scratch / "source.bin"
    _make_source(source, size)
    storage = FileSystemStorage(location=scratch / "storage")
    owner = uuid.uuid4()

    def plain(*, fsync: bool) -> Callable[[], Callable[[], None]]:
        def run() -> Callable[[], None]:
            with source.open("rb") as data:
                name = storage.save(f"plain/{uuid.uuid4()}", File(data))
            if fsync:
                _fsync(storage.path(name))
            return lambda: storage.delete(name)

        return run

    def encrypted() -> Callable[[], None]:
        with source.open("rb") as data:
            # Outside a transaction: the row commits at once and the promotion runs with it.
            blob = blob_put(kind=OwnerKind.PATIENT, owner_id=owner, source=data, storage=storage)
        return lambda: blob_delete(blob, storage)

    results = {
        "plain copy (storage.save)": _median_mb_s(size, plain(fsync=False)),
        "plain copy + fsync": _median_mb_s(size, plain(fsync=True)),
        "encrypted (blob_put, with fsync)": _median_mb_s(size, encrypted),
    }
    # The cost of encryption alone: blob_put without its fsync, as a plain storage.save.
    flush_to_disk = blobs._flush_to_disk
    blobs._flush_to_disk = lambda storage, name: None
    try:
        results["encrypted, fsync skipped"] = _median_mb_s(size, encrypted)
    finally:
        blobs._flush_to_disk = flush_to_disk

    # Reading back: the plain file as is, against decrypting and checking the SHA-256.
    with source.open("rb") as data:
        name = storage.save("plain/read", File(data))
    with source.open("rb") as data:
        blob = blob_put(kind=OwnerKind.PATIENT, owner_id=owner, source=data, storage=storage)

    def read_plain() -> Callable[[], None]:
        digest = hashlib.sha256()
        with storage.open(name, "rb") as data:
            for chunk in iter(lambda: data.read(CHUNK_SIZE), b""):
                digest.update(chunk)
        return lambda: None

    def read_encrypted() -> Callable[[], None]:
        for _chunk in blob_chunks(blob, storage):
            pass
        return lambda: None

    results["read plain (+ sha256)"] = _median_mb_s(size, read_plain)
    results["read encrypted (blob_chunks, verified)"] = _median_mb_s(size, read_encrypted)
    storage.delete(name)
    blob_delete(blob, storage)
    source.unlink()
    return results


def _peak_rss_above_baseline(scratch: Path, size: int) -> tuple[float, float]:
    """Store ``size`` bytes encrypted in a child process; its (peak - baseline, baseline) in
    MiB."""
    source = scratch / "large.bin"
    _make_source(source, size)
    child = subprocess.run(  # noqa: S603 -- this very script, with arguments it made
        [
            sys.executable,
            __file__,
            "--child",
            str(source),
            str(scratch),
            str(connection.settings_dict["NAME"]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    source.unlink()
    baseline_kib = int(child.stdout.split()[-1])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (peak_kib - baseline_kib) / 1024, baseline_kib / 1024


def _child(source: Path, scratch: Path, database: str) -> None:
    """Store ``source`` encrypted, on the parent's throwaway database; print the RSS (KiB)
    measured just before the store."""
    _use_keys_in(scratch)
    logging.getLogger("cuspid.keys.blobs").setLevel(logging.WARNING)
    connection.settings_dict["NAME"] = database
    storage = FileSystemStorage(location=scratch / "child-storage")
    owner = uuid.uuid4()
    with (scratch / "keys" / "kek.json").open("rb") as warm_up:  # loads Tink, the KEK, the DEK
        blob_put(kind=OwnerKind.PATIENT, owner_id=owner, source=warm_up, storage=storage)
    baseline = _rss_kib()
    with source.open("rb") as data:
        blob = blob_put(kind=OwnerKind.PATIENT, owner_id=owner, source=data, storage=storage)
    if blob.size != source.stat().st_size:
        raise RuntimeError("the large blob was not stored whole")
    print(baseline)


def main(size: int, rss_size: int) -> None:
    setup_test_environment()
    logging.getLogger("cuspid.keys.blobs").setLevel(logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="cuspid-blob-bench-"))
    if connection.vendor == "sqlite":
        # A file, as the embedded default runs, not the test runner's in-memory database
        # (the child process opens the same file).
        connection.settings_dict["TEST"]["NAME"] = str(scratch / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        _use_keys_in(scratch)
        results = _throughput(scratch, size)
        connection.close()  # the child writes to the same database
        rss, baseline = _peak_rss_above_baseline(scratch, rss_size)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(scratch, ignore_errors=True)

    plain = results["plain copy (storage.save)"]
    ratios = {
        "encrypted / plain copy (aim >= 0.5)": results["encrypted (blob_put, with fsync)"] / plain,
        "encrypted / plain copy, both with fsync": (
            results["encrypted (blob_put, with fsync)"] / results["plain copy + fsync"]
        ),
        "encrypted / plain copy, neither with fsync": results["encrypted, fsync skipped"] / plain,
    }
    width = max(len(label) for label in [*results, *ratios]) + 2
    print(f"\nBlob store, FileSystemStorage under {tempfile.gettempdir()}, {connection.vendor}:")
    print(f"{size // MIB} MiB file, median of {RUNS} runs, {os.cpu_count()} CPUs")
    print(f"{'':{width}}{'MB/s':>8}")
    for label, speed in results.items():
        print(f"{label:{width}}{speed:8.0f}")
    for label, ratio in ratios.items():
        print(f"{label:{width}}{ratio:8.2f}")
    print(
        f"\nPeak RSS storing a {rss_size // MIB} MiB file encrypted: {rss:.1f} MiB above a "
        f"baseline of {baseline:.1f} MiB   (aim < 200 MiB)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
    else:
        arguments = [int(argument) for argument in sys.argv[1:3]]
        main(
            (arguments[0] if arguments else 256) * MIB,
            (arguments[1] if len(arguments) > 1 else 1024) * MIB,
        )
