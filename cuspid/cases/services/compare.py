"""Writes of revision comparisons: asking for one, and computing its distance map.

A comparison measures, for every vertex of one revision's design mesh (its first
proposal-layer file), the signed distance in millimetres to another revision's design
surface (``cuspid.cases.distance``). It is computed once per ordered pair and kept: the
distances as an encrypted blob owned by the patient (little-endian float32, one per vertex in
the browser loader's order), the summary in ``stats``.

``comparison_request`` is the member's step (permission, checks, the row, the audit event).
Small pairs are then computed at once, in the request; larger ones by a Celery worker
(``cuspid.cases.tasks``), queued when the request's transaction commits. Both run
``comparison_compute``, which acts as the platform (``SystemActor``) and is idempotent: a
comparison that is no longer pending is left alone, an error other than a broken mesh leaves
it pending for the next try, and a mesh that cannot be compared marks it failed with a code.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from enum import Enum
from uuid import UUID

from django.db import transaction

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.cases.distance import (
    MAX_TRIANGLES,
    DistanceStats,
    LoadedMesh,
    MeshUnreadable,
    mesh_distances,
    mesh_load,
)
from cuspid.cases.enums import ComparisonStatus
from cuspid.cases.models import Attachment, Revision, RevisionComparison
from cuspid.cases.selectors.compare import proposal_mesh_get_for
from cuspid.cases.services import CASE_DATA_TYPE, PURPOSE
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.core.errors import InvalidInput
from cuspid.keys.blobs import blob_chunks, blob_put
from cuspid.keys.models import OwnerKind
from cuspid.tenancy.actor import Actor

logger = logging.getLogger(__name__)

#: Pairs of meshes with at most this many triangles together are computed in the request
#: (a fraction of a second); larger ones by a worker.
INLINE_MAX_FACES = 50_000
#: A pending comparison nobody has touched for this long lost its computation (a worker
#: that died after its retries): asking for it again runs it again.
STALE_AFTER = timedelta(minutes=15)
#: Why the platform computes (the ``SystemActor`` of the inline path and of the task).
SYSTEM_REASON = "revision_compare"
# Four bytes per vertex, three vertices per triangle at most (a non-indexed STL).
_MAX_DISTANCE_BYTES = 4 * 3 * MAX_TRIANGLES
_NO_MESH = "no_mesh"


class _Next(Enum):
    """What a request leaves to do once its row is written."""

    NOTHING = "nothing"
    INLINE = "inline"
    QUEUED = "queued"


def comparison_request(
    *, actor: Actor, revision: Revision, baseline: Revision
) -> RevisionComparison:
    """Ask for the distance map of ``revision``'s design mesh to ``baseline``'s surface.

    Guarantees: one comparison per ordered pair. An existing one is returned as it is (ready,
    or still computing); a failed one is tried again; a pending one untouched for
    ``STALE_AFTER`` is run again. A pair with at most ``INLINE_MAX_FACES`` triangles together
    is computed before this returns (ready or failed; pending if the computation broke, in
    which case it is queued for a worker); a larger pair is queued for a worker when the
    transaction commits and comes back pending.

    Raises PermissionDenied without ``Perm.CaseView`` on the case; InvalidInput when the two
    are one revision, of two cases, or one of them has no design mesh. Audits
    ``AuditAction.Case.ComparisonRequested`` once per request, whether it creates the
    comparison, runs it again or returns it as it is (its answer is read from the patient's
    files); a refused request changes and audits nothing here (the route records it).
    """
    comparison, then = _comparison_open(actor=actor, revision=revision, baseline=baseline)
    if then is not _Next.INLINE:
        return comparison
    try:
        computed = comparison_compute(
            actor=SystemActor(reason=SYSTEM_REASON), comparison_id=comparison.id
        )
    except Exception:
        # Any failure but a broken mesh (storage, keys) is for a worker to retry; the member
        # still gets an answer: the comparison, pending.
        logger.exception("comparison %s failed in the request; queued for a worker", comparison.id)
        _enqueue(comparison.id)
        return comparison
    return computed if computed is not None else comparison


@transaction.atomic(durable=True)
def _comparison_open(
    *, actor: Actor, revision: Revision, baseline: Revision
) -> tuple[RevisionComparison, _Next]:
    require(actor, Perm.CaseView, revision.case)
    if baseline.id == revision.id:
        raise InvalidInput("Choose another revision to compare with.")
    if baseline.case_id != revision.case_id:
        raise InvalidInput("Compare two revisions of the same case.")
    mesh = proposal_mesh_get_for(revision=revision)
    base = proposal_mesh_get_for(revision=baseline)
    if mesh is None or base is None:
        raise InvalidInput("Both revisions need a design mesh to be compared.")
    comparison, created = RevisionComparison.objects.select_for_update().get_or_create(
        revision=revision,
        baseline=baseline,
        defaults={
            "case_id": revision.case_id,
            "patient_id": revision.patient_id,
            "requested_by": actor.user,
            "organization": actor.organization,
        },
    )
    # Every request is audited, a returned one too: its answer (the summary) is derived from
    # the patient's files, and a write route's answer is not recorded as a read.
    audit_emit(
        action=AuditAction.Case.ComparisonRequested,
        actor=actor,
        target_type="revision_comparison",
        target_id=comparison.id,
        subject_patient=revision.patient_id,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
    )
    if not created and not _runs_again(comparison):
        return comparison, _Next.NOTHING
    if not created:
        comparison.status = ComparisonStatus.PENDING
        comparison.stats = None
        comparison.requested_by = actor.user
        comparison.organization = actor.organization
        comparison.save(
            update_fields=["status", "stats", "requested_by", "organization", "updated_at"]
        )
    if (mesh.face_count or 0) + (base.face_count or 0) <= INLINE_MAX_FACES:
        return comparison, _Next.INLINE
    _enqueue(comparison.id)
    return comparison, _Next.QUEUED


def _runs_again(comparison: RevisionComparison) -> bool:
    """A failed comparison, or a pending one whose computation was lost."""
    if comparison.status == ComparisonStatus.FAILED:
        return True
    return (
        comparison.status == ComparisonStatus.PENDING
        and comparison.updated_at < clock.now() - STALE_AFTER
    )


def _enqueue(comparison_id: UUID) -> None:
    # Imported here: the task module imports this one.
    from cuspid.cases.tasks import comparison_compute_task

    transaction.on_commit(lambda: comparison_compute_task.delay(str(comparison_id)))


def comparison_compute(*, actor: SystemActor, comparison_id: UUID) -> RevisionComparison | None:
    """Compute a pending comparison and store its distances (the inline path and the task).

    Guarantees: idempotent and safe to run twice at once. A comparison that is not pending
    is returned unchanged; otherwise the two meshes are read (checked against their
    SHA-256), the distances computed outside any transaction, then stored, with the stats
    and ``READY``, under the row's lock, unless another run finished first (its result
    stands). A mesh that cannot be compared marks it ``FAILED`` with ``stats = {"error":
    code}`` (``cuspid.cases.distance.MeshUnreadable`` codes, or ``no_mesh``). ``None`` when
    the comparison no longer exists.

    Raises what reading the meshes or storing the distances raises (``KeyDestroyed``,
    ``FileNotFoundError``, ``BlobCorrupted``, storage errors): the comparison then stays
    pending, for the task's retry. Audits nothing: the member's request that made it pending
    was audited (``ComparisonRequested``); this is the platform finishing it.
    """
    comparison = (
        RevisionComparison.objects.select_related("revision", "baseline")
        .filter(id=comparison_id)
        .first()
    )
    if comparison is None or comparison.status != ComparisonStatus.PENDING:
        return comparison
    logger.info("computing comparison %s (%s)", comparison.id, actor.reason)
    mesh = proposal_mesh_get_for(revision=comparison.revision)
    base = proposal_mesh_get_for(revision=comparison.baseline)
    if mesh is None or base is None:
        return _comparison_store(comparison_id, error=_NO_MESH)
    try:
        data, stats = mesh_distances(_mesh(mesh), _mesh(base))
    except MeshUnreadable as exc:
        return _comparison_store(comparison_id, error=exc.code)
    return _comparison_store(comparison_id, data=data, stats=stats)


def _mesh(attachment: Attachment) -> LoadedMesh:
    return mesh_load(b"".join(blob_chunks(attachment.blob)), attachment.file_format)


@transaction.atomic(durable=True)
def _comparison_store(
    comparison_id: UUID,
    *,
    data: bytes = b"",
    stats: DistanceStats | None = None,
    error: str = "",
) -> RevisionComparison:
    comparison = RevisionComparison.objects.select_for_update().get(id=comparison_id)
    if comparison.status != ComparisonStatus.PENDING:
        return comparison
    if stats is None:
        comparison.status = ComparisonStatus.FAILED
        comparison.stats = {"error": error}
        comparison.save(update_fields=["status", "stats", "updated_at"])
        return comparison
    comparison.blob = blob_put(
        kind=OwnerKind.PATIENT,
        owner_id=comparison.patient_id,
        source=io.BytesIO(data),
        max_bytes=_MAX_DISTANCE_BYTES,
    )
    comparison.stats = stats.as_json()
    comparison.status = ComparisonStatus.READY
    comparison.save(update_fields=["blob", "stats", "status", "updated_at"])
    return comparison
