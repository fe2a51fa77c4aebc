"""Revisions to compare, for tests: analytic meshes as STL, cases with several revisions.

Revisions are uploaded through the real services (inspection, encryption, audit), so a
comparison's setup is what production would have.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.storage import storages
from numpy.typing import NDArray

from cuspid.cases.enums import Layer
from cuspid.cases.models import Attachment, Case, Revision
from cuspid.cases.services import Upload, revision_create
from cuspid.keys.blobs import blob_put
from cuspid.keys.models import OwnerKind
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl, binary_stl
from tests.factories.cases import actor_of, make_case, send_case, transition


def icosphere(subdivisions: int, radius: float) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A sphere of ``radius`` mm around the origin, wound outwards: 20 * 4 ** subdivisions
    triangles (vertices exactly on the sphere)."""
    t = (1.0 + 5.0**0.5) / 2.0
    vertices = np.array(
        [
            [-1, t, 0],
            [1, t, 0],
            [-1, -t, 0],
            [1, -t, 0],
            [0, -1, t],
            [0, 1, t],
            [0, -1, -t],
            [0, 1, -t],
            [t, 0, -1],
            [t, 0, 1],
            [-t, 0, -1],
            [-t, 0, 1],
        ],
        dtype=np.float64,
    )
    faces = np.array(
        [
            [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
            [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
            [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
            [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
        ],
        dtype=np.int64,
    )  # fmt: skip
    for _ in range(subdivisions):
        corners = vertices[faces]
        midpoints = (corners + np.roll(corners, -1, axis=1)) / 2.0
        count = len(vertices)
        new = np.arange(count, count + 3 * len(faces)).reshape(-1, 3)
        vertices = np.concatenate([vertices, midpoints.reshape(-1, 3)])
        a, b, c = faces.T
        ab, bc, ca = new.T
        faces = np.concatenate(
            [np.stack(f, axis=1) for f in ([a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca])]
        )
    vertices = vertices / np.linalg.norm(vertices, axis=1)[:, None] * radius
    return vertices, faces


@cache
def sphere_stl(subdivisions: int = 3, radius: float = 10.0) -> bytes:
    """A binary STL of ``icosphere(subdivisions, radius)``."""
    vertices, faces = icosphere(subdivisions, radius)
    return binary_stl(vertices, faces)


@cache
def large_arch_stl(seed: int = 1) -> bytes:
    """A generated arch of 52 800 triangles: above the inline limit on its own."""
    return arch_stl(seed, segments=275, rings=96)


@dataclass(frozen=True, slots=True)
class Compared:
    """A case sent to a lab and accepted, with one revision per mesh given."""

    case: Case
    revisions: list[Revision]


def case_with_revisions(
    clinician: Membership, designer: Membership, lab: Organization, meshes: Sequence[bytes]
) -> Compared:
    """A crown case of the clinician's clinic, sent to ``lab`` and accepted by the designer,
    with design revision n made of ``meshes[n - 1]`` (one STL each)."""
    case = send_case(clinician, make_case(clinician), lab)
    case = transition(designer, case, "accept")
    revisions = [
        revision_create(
            actor=actor_of(designer),
            case=case,
            uploads=[Upload(file=io.BytesIO(mesh), filename=f"crown-{n}.stl")],
            note="",
        )
        for n, mesh in enumerate(meshes, start=1)
    ]
    case.refresh_from_db()
    return Compared(case=case, revisions=revisions)


def proposal_of(revision: Revision) -> Attachment:
    """The revision's (first) design mesh."""
    return Attachment.objects.filter(revision=revision, layer=Layer.PROPOSAL).order_by(
        "created_at", "id"
    )[0]


def use_blob_dir(settings: Any, tmp_path: Path) -> None:
    """Keep the test's stored files under its own temporary directory."""
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


def lose_stored_file(attachment: Attachment) -> None:
    """Delete the file's stored bytes, as a lost disk would (the row stays)."""
    storage = storages["blobs"]
    for name in (f"tmp/{attachment.blob_id}", f"blobs/{attachment.blob_id}"):
        if storage.exists(name):
            storage.delete(name)


def break_mesh(attachment: Attachment, content: bytes = b"\x00" * 83) -> None:
    """Store ``content`` (by default too short for a binary STL) in place of the file, as a
    damaged disk or a parser bug would leave it; the row keeps its format and counts."""
    attachment.blob = blob_put(
        kind=OwnerKind.PATIENT, owner_id=attachment.patient_id, source=io.BytesIO(content)
    )
    attachment.save(update_fields=["blob"])
