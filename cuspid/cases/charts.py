"""Server-drawn SVG charts: pure functions from figures to markup, no JavaScript.

Horizontal bars, one row per category, one bar per series. The markup carries no ``style``
attribute (CSP ``style-src 'self'``): colours and fonts come from classes styled in
``web/review/insights.css``; geometry uses SVG attributes. Each chart is ``role="img"``
with a ``<title>`` and ``<desc>``; the page shows the same figures in a table as well.
Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 360
# Room after the longest bar for its value ("1234.5 h").
VALUE_ROOM = 78
# Each category's label sits above its bars, so long names and narrow screens both fit.
LABEL_HEIGHT = 20
BAR_HEIGHT = 16
BAR_GAP = 4
GROUP_GAP = 14
LEGEND_HEIGHT = 26
# Category labels longer than this are cut (the table shows them whole).
LABEL_CHARS = 48


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its value (``None``: no data), the text written after it, its series."""

    value: float | None
    text: str
    series: str


@dataclass(frozen=True, slots=True)
class BarGroup:
    """One category: its label and its bars, top to bottom."""

    label: str
    bars: Sequence[Bar]


@dataclass(frozen=True, slots=True)
class Series:
    """A series for the legend: its class suffix and its name."""

    key: str
    label: str


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _number(value: float) -> str:
    """An SVG coordinate: at most one decimal, no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _legend(series: Sequence[Series]) -> list[SafeString]:
    parts: list[SafeString] = []
    x = 0
    for item in series:
        parts.append(
            format_html(
                '<rect class="chart-bar chart-bar-{}" x="{}" y="4" width="12" height="12" '
                'rx="2"/><text class="chart-legend" x="{}" y="10" dy=".35em">{}</text>',
                item.key,
                x,
                x + 18,
                item.label,
            )
        )
        # Legend labels are short words ("Median", "90th percentile").
        x += 34 + 8 * len(item.label)
    return parts


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    groups: Sequence[BarGroup],
    legend: Sequence[Series] = (),
) -> SafeString:
    """A horizontal bar chart as inline SVG markup: per category, its label, then its bars.

    Bars are scaled to the largest value; a value of ``None`` draws no bar, only its text
    (e.g. "no data"); a positive value too small to see still draws a sliver.
    """
    values = [bar.value for group in groups for bar in group.bars if bar.value is not None]
    largest = max(values, default=0.0)
    room = WIDTH - VALUE_ROOM
    parts = _legend(legend)
    y = float(LEGEND_HEIGHT if legend else 0)
    for group in groups:
        parts.append(
            format_html(
                '<text class="chart-label" x="0" y="{}">{}</text>',
                _number(y + LABEL_HEIGHT - 6),
                _short(group.label),
            )
        )
        y += LABEL_HEIGHT
        for bar in group.bars:
            length = 0.0
            if bar.value is not None and largest > 0:
                length = max(bar.value / largest * room, 2.0 if bar.value > 0 else 0.0)
            if bar.value is not None:
                parts.append(
                    format_html(
                        '<rect class="chart-bar chart-bar-{}" x="0" y="{}" width="{}" '
                        'height="{}" rx="2"/>',
                        bar.series,
                        _number(y),
                        _number(length),
                        BAR_HEIGHT,
                    )
                )
            parts.append(
                format_html(
                    '<text class="chart-value" x="{}" y="{}" dy=".35em">{}</text>',
                    _number(length + 6),
                    _number(y + BAR_HEIGHT / 2),
                    bar.text,
                )
            )
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP - BAR_GAP
    bottom = max(y - GROUP_GAP + BAR_GAP, 1.0)
    return format_html(
        '<svg class="chart" id="{}" viewBox="0 0 {} {}" role="img" '
        'aria-labelledby="{}-title {}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        chart_id,
        WIDTH,
        _number(bottom),
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        description,
        mark_safe("".join(parts)),  # noqa: S308 -- every part was built by format_html
    )
