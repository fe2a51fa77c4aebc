"""API shapes for review links: what the clinic sends to create one and what it gets back.

The token is answered once, by the create operation (``ReviewLinkCreatedOut``); every other
answer carries the link's id and status only. The passcode is never answered, only whether
there is one.
"""

from __future__ import annotations

import datetime
from uuid import UUID

from ninja import Field, Schema

from cuspid.cases.selectors.review_links import ReviewLinkRow, ReviewLinkStatus
from cuspid.cases.services.review_links import (
    DEFAULT_HOURS,
    LABEL_MAX,
    MAX_HOURS,
    MIN_HOURS,
    PASSCODE_MAX,
)


class ReviewLinkCreateIn(Schema):
    """A new link to one revision."""

    expires_in_hours: int = Field(
        DEFAULT_HOURS,
        ge=MIN_HOURS,
        le=MAX_HOURS,
        description="How long the link works: 1 hour to 7 days (168); 72 by default.",
    )
    allow_comments: bool = Field(
        False, description="Whether the holder may comment on the revision (view only if not)."
    )
    passcode: str = Field(
        "",
        max_length=PASSCODE_MAX,
        description="Optional: at least 6 characters the holder must type; say it by phone.",
    )
    label: str = Field(
        "",
        max_length=LABEL_MAX,
        description='Optional: who the link is for, for the clinic\'s list ("Dr Roy").',
    )


class ReviewLinkOut(Schema):
    """A review link as the clinic's list shows it; never its token."""

    id: UUID = Field(..., description="The link's id.")
    revision_id: UUID = Field(..., description="The revision it shows.")
    label: str | None = Field(..., description="Who it is for, or null.")
    allow_comments: bool = Field(..., description="Whether the holder may comment.")
    has_passcode: bool = Field(..., description="Whether the holder must type a passcode.")
    status: ReviewLinkStatus = Field(..., description="active, expired or revoked.")
    expires_at: datetime.datetime = Field(..., description="When it stops working.")
    revoked_at: datetime.datetime | None = Field(..., description="When it was revoked.")
    open_count: int = Field(..., description="How many times its page was opened.")
    last_opened_at: datetime.datetime | None = Field(..., description="The last open.")
    created_at: datetime.datetime = Field(..., description="When it was created.")

    @staticmethod
    def of(row: ReviewLinkRow) -> ReviewLinkOut:
        link = row.link
        return ReviewLinkOut(
            id=link.id,
            revision_id=link.revision_id,
            label=link.label,
            allow_comments=link.allow_comments,
            has_passcode=bool(link.passcode_hash),
            status=row.status,
            expires_at=link.expires_at,
            revoked_at=link.revoked_at,
            open_count=link.open_count,
            last_opened_at=link.last_opened_at,
            created_at=link.created_at,
        )


class ReviewLinkCreatedOut(ReviewLinkOut):
    """A new link, with its token and address: answered this once, never again."""

    token: str = Field(..., description="The secret part of the address; shown only now.")
    url: str = Field(..., description="The full address to send to the reviewer.")

    @staticmethod
    def created(row: ReviewLinkRow, token: str, url: str) -> ReviewLinkCreatedOut:
        base = ReviewLinkOut.of(row)
        return ReviewLinkCreatedOut(**base.model_dump(), token=token, url=url)
