"""The work order of a production package: what the lab makes, from which files, approved by
whom. Rendered as a printable HTML document (a Django template) and as a PDF (reportlab).

Pure: no database, no clock, no request. The same :class:`WorkOrder` gives the same bytes
(the PDF is written in reportlab's invariant mode, which fixes its creation date and
document id), so a package built twice is byte-identical. The language and time zone are
inputs, not whatever the current request has activated.

A work order names the case by its reference, never the patient: no name, birth date or
contact detail is an input. The clinical notes are (designers and lab staff read them in the
case; the package is stored encrypted).
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from reportlab.lib import colors  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.lib.enums import TA_CENTER  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.lib.pagesizes import letter  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.lib.units import mm  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.platypus import (  # type: ignore[import-untyped]  # reportlab ships no types
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.doctemplate import BaseDocTemplate  # type: ignore[import-untyped]  # reportlab ships no types

from cuspid.cases.enums import CaseType, Layer, Material, Priority

TEMPLATE = "cases/workorder.html"
# The work order's own stylesheet: linked by the page, copied into the packaged document
# (opened from disk, where no link would resolve).
STYLESHEET = "web/review/workorder.css"
_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
# FDI chart rows as the dentist faces the patient: the patient's right on the left.
PERMANENT_CHART = (
    (tuple(range(18, 10, -1)), tuple(range(21, 29))),
    (tuple(range(48, 40, -1)), tuple(range(31, 39))),
)
PRIMARY_CHART = (
    (tuple(range(55, 50, -1)), tuple(range(61, 66))),
    (tuple(range(85, 80, -1)), tuple(range(71, 76))),
)
PRIMARY_TEETH = frozenset(t for row in PRIMARY_CHART for half in row for t in half)


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """The clinician's signed approval the package carries (``models.Approval``)."""

    id: UUID
    approver_id: UUID
    approver_name: str
    approved_at: datetime.datetime
    manifest_sha256: str
    statement_version: str
    key_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class OrderFile:
    """One mesh of the approved revision, under its name in the package."""

    name: str
    layer: str
    file_format: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """Everything a work order (and the package's manifest) shows. No patient identity."""

    case_id: UUID
    case_reference: str
    case_type: str
    teeth: tuple[int, ...]
    material: str
    shade: str
    due_date: datetime.date | None
    priority: str
    notes: str
    clinic_name: str
    lab_name: str
    revision_id: UUID
    revision_number: int
    revision_manifest_sha256: str
    approval: ApprovalRecord
    files: tuple[OrderFile, ...]
    # How dates and labels read: the lab's time zone, the deployment's language.
    time_zone: str = "UTC"
    language: str = "en"


@dataclass(frozen=True, slots=True)
class ChartTooth:
    number: int
    marked: bool


@dataclass(frozen=True, slots=True)
class ChartRow:
    """One arch: the patient's right half, then the left; ``None`` pads a primary arch so its
    midline lines up with the permanent one."""

    label: str
    right: tuple[ChartTooth | None, ...]
    left: tuple[ChartTooth | None, ...]


@dataclass(frozen=True, slots=True)
class Detail:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class FileLine:
    name: str
    layer: str
    size: str
    sha256: str


@dataclass(frozen=True, slots=True)
class WorkOrderView:
    """A work order's text, in its language: what both the HTML and the PDF print."""

    title: str
    subtitle: str
    details: tuple[Detail, ...]
    chart: tuple[ChartRow, ...]
    teeth_text: str
    notes: str
    approval_text: str
    approval: tuple[Detail, ...]
    files: tuple[FileLine, ...]
    footer: str
    rush: bool


def _label(
    choices: type[CaseType] | type[Material] | type[Priority] | type[Layer], code: str
) -> str:
    label: str | Promise = choices(code).label if code in choices.values else code
    return str(label)


def _chart(teeth: Sequence[int]) -> tuple[ChartRow, ...]:
    marked = set(teeth)
    rows = [*PERMANENT_CHART]
    labels = [_("Upper"), _("Lower")]
    if marked & PRIMARY_TEETH:
        rows += PRIMARY_CHART
        labels += [_("Upper primary"), _("Lower primary")]
    chart: list[ChartRow] = []
    for label, (right, left) in zip(labels, rows, strict=True):
        pad: tuple[None, ...] = (None,) * (8 - len(right))
        chart.append(
            ChartRow(
                label=label,
                right=pad + tuple(ChartTooth(t, t in marked) for t in right),
                left=tuple(ChartTooth(t, t in marked) for t in left) + pad,
            )
        )
    return tuple(chart)


def _local(moment: datetime.datetime, time_zone: str) -> str:
    local = moment.astimezone(ZoneInfo(time_zone))
    return f"{date_format(local, 'Y-m-d H:i')} ({time_zone})"


def work_order_view(order: WorkOrder) -> WorkOrderView:
    """The work order's text in its own language (call under ``translation.override``)."""
    approval = order.approval
    approved_at = _local(approval.approved_at, order.time_zone)
    details = (
        Detail(_("Case"), order.case_reference),
        Detail(_("Clinic"), order.clinic_name),
        Detail(_("Lab"), order.lab_name),
        Detail(_("Type"), _label(CaseType, order.case_type)),
        Detail(_("Teeth (FDI)"), ", ".join(str(t) for t in order.teeth) or "—"),
        Detail(_("Material"), _label(Material, order.material)),
        Detail(_("Shade"), order.shade or "—"),
        Detail(_("Due"), order.due_date.isoformat() if order.due_date else "—"),
        Detail(_("Priority"), _label(Priority, order.priority)),
        Detail(_("Design revision"), str(order.revision_number)),
    )
    return WorkOrderView(
        title=_("Work order %(reference)s") % {"reference": order.case_reference},
        subtitle=_("Production package of design revision %(number)s, as approved")
        % {"number": order.revision_number},
        details=details,
        chart=_chart(order.teeth),
        teeth_text=", ".join(str(t) for t in order.teeth),
        notes=order.notes,
        approval_text=_("Approved by %(name)s on %(when)s.")
        % {"name": approval.approver_name or "—", "when": approved_at},
        approval=(
            Detail(_("Approval id"), str(approval.id)),
            Detail(_("Approved by"), approval.approver_name or "—"),
            Detail(_("Approved"), approved_at),
            Detail(_("Revision manifest SHA-256"), approval.manifest_sha256),
            Detail(_("Statement version"), approval.statement_version),
            Detail(_("Signing key"), approval.key_id),
            Detail(_("Signature (Ed25519)"), approval.signature),
        ),
        files=tuple(
            FileLine(f.name, _label(Layer, f.layer), filesizeformat(f.size), f.sha256)
            for f in order.files
        ),
        footer=_("Cuspid production package · %(reference)s · revision %(number)s")
        % {"reference": order.case_reference, "number": order.revision_number},
        rush=order.priority == Priority.RUSH,
    )


@cache
def _stylesheet() -> str:
    return (_STATIC / STYLESHEET).read_text(encoding="utf-8")


def workorder_html(order: WorkOrder, *, standalone: bool = True, back_url: str = "") -> str:
    """The work order as one HTML document.

    ``standalone`` (the packaged file, opened from disk): its stylesheet is copied in.
    Otherwise (the page the app serves, under a CSP without inline styles) it links it, and
    shows a print button and a link back to ``back_url``.
    """
    with translation.override(order.language):
        context = {
            "order": order,
            "view": work_order_view(order),
            "language": order.language,
            "stylesheet": _stylesheet() if standalone else "",
            "stylesheet_path": STYLESHEET,
            "standalone": standalone,
            "back_url": back_url,
        }
        return render_to_string(TEMPLATE, context)


# --- PDF -------------------------------------------------------------------------------------

_INK = colors.HexColor("#1d2733")
_MUTED = colors.HexColor("#526172")
_LINE = colors.HexColor("#b7c2ce")
_MARK = colors.HexColor("#0b6e69")
_TINT = colors.HexColor("#eef2f6")


def _pdf_text(text: str) -> str:
    """Text the standard PDF fonts can draw (WinAnsi), escaped for reportlab's markup."""
    drawable = text.encode("cp1252", errors="replace").decode("cp1252")
    return drawable.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontSize=9.5, leading=12.5)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontSize=18, alignment=0),
        "subtitle": ParagraphStyle("subtitle", parent=body, textColor=_MUTED, fontSize=10.5),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, spaceBefore=8),
        "body": body,
        "label": ParagraphStyle("label", parent=body, fontName="Helvetica-Bold"),
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=7.5, leading=9),
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10),
        "tooth": ParagraphStyle("tooth", parent=body, alignment=TA_CENTER, fontSize=8.5),
        "rush": ParagraphStyle(
            "rush", parent=body, fontName="Helvetica-Bold", textColor=colors.HexColor("#a4262c")
        ),
    }


def _details_table(rows: Sequence[Detail], styles: dict[str, ParagraphStyle], mono: bool) -> Table:
    value_style = styles["mono"] if mono else styles["body"]
    data = [
        [
            Paragraph(_pdf_text(row.label), styles["label"]),
            Paragraph(_pdf_text(row.value), value_style),
        ]
        for row in rows
    ]
    table = Table(data, colWidths=[48 * mm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -2), 0.25, _LINE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _chart_table(view: WorkOrderView, styles: dict[str, ParagraphStyle]) -> Table:
    """The FDI chart: one row per arch, the patient's right on the left, marked teeth filled."""
    data: list[list[Flowable | str]] = []
    commands: list[tuple[object, ...]] = []
    for r, row in enumerate(view.chart):
        cells: list[Flowable | str] = [Paragraph(_pdf_text(row.label), styles["small"])]
        for c, tooth in enumerate((*row.right, *row.left), start=1):
            if tooth is None:
                cells.append("")
                continue
            commands.append(("BOX", (c, r), (c, r), 0.4, _LINE))
            text = str(tooth.number)
            if tooth.marked:
                text = f'<font color="white"><b>{text}</b></font>'
                commands.append(("BACKGROUND", (c, r), (c, r), _MARK))
            cells.append(Paragraph(text, styles["tooth"]))
        data.append(cells)
    table = Table(data, colWidths=[26 * mm] + [8.4 * mm] * 16, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                *commands,
                # The midline, between the patient's right and left.
                ("LINEAFTER", (8, 0), (8, -1), 1.6, _INK),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _files_table(view: WorkOrderView, styles: dict[str, ParagraphStyle]) -> Table:
    header = [_("File"), _("Layer"), _("Size"), _("SHA-256")]
    data: list[list[object]] = [[Paragraph(_pdf_text(h), styles["label"]) for h in header]]
    for line in view.files:
        data.append(
            [
                Paragraph(_pdf_text(line.name), styles["small"]),
                Paragraph(_pdf_text(line.layer), styles["small"]),
                Paragraph(_pdf_text(line.size), styles["small"]),
                Paragraph(_pdf_text(line.sha256), styles["mono"]),
            ]
        )
    table = Table(data, colWidths=[58 * mm, 28 * mm, 18 * mm, None], repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), _TINT),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _flowables(view: WorkOrderView) -> list[Flowable]:
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(_pdf_text(view.title), styles["title"]),
        Paragraph(_pdf_text(view.subtitle), styles["subtitle"]),
    ]
    if view.rush:
        story.append(Paragraph(_pdf_text(_("Rush")), styles["rush"]))
    story += [Spacer(1, 4 * mm), _details_table(view.details, styles, mono=False)]
    story += [
        KeepTogether(
            [
                Paragraph(_pdf_text(_("Teeth (FDI chart)")), styles["h2"]),
                _chart_table(view, styles),
                Paragraph(
                    _pdf_text(_("Marked: %(teeth)s") % {"teeth": view.teeth_text or "—"}),
                    styles["small"],
                ),
            ]
        )
    ]
    story.append(Paragraph(_pdf_text(_("Clinical notes")), styles["h2"]))
    notes = view.notes or _("No clinical notes.")
    story += [Paragraph(_pdf_text(line) or "&nbsp;", styles["body"]) for line in notes.splitlines()]
    story += [
        Paragraph(_pdf_text(_("Approval")), styles["h2"]),
        Paragraph(_pdf_text(view.approval_text), styles["body"]),
        Spacer(1, 2 * mm),
        _details_table(view.approval, styles, mono=True),
        Paragraph(_pdf_text(_("Files")), styles["h2"]),
        _files_table(view, styles),
    ]
    return story


def _footer(text: str) -> object:
    def draw(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(_MUTED)
        page = _("page %(number)s") % {"number": doc.page}
        canvas.drawString(doc.leftMargin, 10 * mm, _pdf_text(f"{text} · {page}"))
        canvas.restoreState()

    return draw


def workorder_pdf(order: WorkOrder) -> bytes:
    """The work order as a PDF (US Letter), the same bytes for the same order."""
    with translation.override(order.language):
        view = work_order_view(order)
        out = io.BytesIO()
        doc = SimpleDocTemplate(
            out,
            pagesize=letter,
            leftMargin=16 * mm,
            rightMargin=16 * mm,
            topMargin=16 * mm,
            bottomMargin=18 * mm,
            title=_pdf_text(view.title),
            author="Cuspid",
            subject=_pdf_text(view.subtitle),
            creator="Cuspid",
            # Fixed creation date and document id: the same order, the same bytes.
            invariant=1,
        )
        footer = _footer(view.footer)
        doc.build(_flowables(view), onFirstPage=footer, onLaterPages=footer)
        return out.getvalue()
