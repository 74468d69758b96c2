"""Small inline-SVG charts for the HTML report: line/step charts and grouped bars.

No dependencies and no scripts: each chart is one ``<svg>`` string with a ``data-chart`` name,
its marks drawn as ``<path>`` elements, and a ``<title>`` on each mark for hover text. All text
is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
WIDTH, HEIGHT = 560, 300
MARGIN = {"left": 62, "right": 16, "top": 30, "bottom": 46}


@dataclass
class Series:
    """One line: points (x, y), drawn as a line or a step, optionally with dots or dashes."""

    label: str
    points: list[tuple[float, float]]
    color: str = PALETTE[0]
    step: bool = False
    dots: bool = False
    dashed: bool = False
    line: bool = True


@dataclass
class Panel:
    """One plot area: series over shared axes."""

    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    y_min: float | None = None
    y_max: float | None = None
    x_min: float | None = None
    integer_x: bool = False


def line_chart(name: str, panels: Sequence[Panel], note: str = "") -> str:
    """Panels side by side in one ``<svg data-chart=name>``."""
    width = WIDTH * len(panels)
    parts = [_svg_open(name, width, HEIGHT + 36)]
    for i, panel in enumerate(panels):
        parts.append(f'<g transform="translate({i * WIDTH},0)">{_panel(panel)}</g>')
    parts.append(_legend(_unique_series(panels), HEIGHT + 8))
    if note:
        parts.append(f'<text x="8" y="{HEIGHT + 28}" class="note">{escape(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(name: str, title: str, groups: Sequence[str], bars: Sequence[tuple[str, list[
        float | None]]], y_label: str, note: str = "") -> str:
    """Grouped bars: for each group, one bar per (label, values[group]) in ``bars``."""
    width = max(WIDTH, 120 * len(groups) + MARGIN["left"] + MARGIN["right"])
    x0, x1, y0, y1 = MARGIN["left"], width - MARGIN["right"], HEIGHT - MARGIN["bottom"], \
        MARGIN["top"]
    values = [v for _, vs in bars for v in vs if v is not None and math.isfinite(v)]
    top = _nice_top(max(values, default=1.0))
    parts = [_svg_open(name, width, HEIGHT + 36), _title(title, (x0 + x1) / 2)]
    parts.append(_y_axis(0.0, top, x0, x1, y0, y1, y_label))
    group_w = (x1 - x0) / max(1, len(groups))
    bar_w = group_w * 0.8 / max(1, len(bars))
    for g, group in enumerate(groups):
        gx = x0 + g * group_w + group_w * 0.1
        parts.append(f'<text x="{x0 + (g + 0.5) * group_w:.1f}" y="{y0 + 16}" '
                     f'class="tick" text-anchor="middle">{escape(group)}</text>')
        for b, (label, vs) in enumerate(bars):
            v = vs[g] if g < len(vs) else None
            bx = gx + b * bar_w
            if v is None or not math.isfinite(v):
                parts.append(f'<text x="{bx + bar_w / 2:.1f}" y="{y0 - 4}" class="tick" '
                             f'text-anchor="middle">n/a</text>')
                continue
            h = (y0 - y1) * v / top
            d = f"M{bx:.1f},{y0:.1f}h{bar_w * 0.92:.1f}v{-h:.1f}h{-bar_w * 0.92:.1f}Z"
            parts.append(f'<path d="{d}" fill="{PALETTE[b % len(PALETTE)]}">'
                         f"<title>{escape(f'{group} {label}: {v:.3g}')}</title></path>")
    legend = [Series(label, [], PALETTE[b % len(PALETTE)]) for b, (label, _) in enumerate(bars)]
    parts.append(_legend(legend, HEIGHT + 8))
    if note:
        parts.append(f'<text x="8" y="{HEIGHT + 28}" class="note">{escape(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lanes_chart(name: str, title: str, lanes: Sequence[tuple[str, list[tuple[float, float, str,
                                                                             int]]]]) -> str:
    """A timeline: one row per lane, each span ``(start, end, label, colour index)`` a bar over
    seconds (the evaluations per worker of a run)."""
    row_h, top, left, right = 26, 30, 70, 16
    height = top + row_h * max(1, len(lanes)) + 40
    ends = [end for _, spans in lanes for _, end, _, _ in spans if math.isfinite(end)]
    lo, hi = _span(0.0, max(ends, default=1.0))
    scale = (WIDTH * 2 - left - right) / (hi - lo)
    parts = [_svg_open(name, WIDTH * 2, height), _title(title, WIDTH)]
    for i, (lane, spans) in enumerate(lanes):
        y = top + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + row_h / 2 + 4:.1f}" class="tick" '
                     f'text-anchor="end">{escape(lane)}</text>')
        for start, end, label, colour in spans:
            x = left + (start - lo) * scale
            w = max(1.5, (end - start) * scale)
            parts.append(f'<path d="M{x:.1f},{y + 3}h{w:.1f}v{row_h - 6}h{-w:.1f}z" '
                         f'fill="{PALETTE[colour % len(PALETTE)]}" class="span">'
                         f"<title>{escape(label)}</title></path>")
    y0 = top + row_h * max(1, len(lanes))
    for t in _ticks(lo, hi):
        px = left + (t - lo) * scale
        parts.append(f'<path d="M{px:.1f},{y0}v4" class="axis"/><text x="{px:.1f}" '
                     f'y="{y0 + 16}" class="tick" text-anchor="middle">{_fmt(t)}</text>')
    parts.append(f'<text x="{WIDTH}" y="{y0 + 34}" class="label" text-anchor="middle">run time '
                 "(s)</text></svg>")
    return "".join(parts)


# --- pieces ------------------------------------------------------------------------------------


def _svg_open(name: str, width: float, height: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" data-chart="{escape(name)}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" width="100%" role="img" '
            f'preserveAspectRatio="xMinYMin meet" style="max-width:{width:.0f}px">')


def _title(text: str, x: float) -> str:
    return f'<text x="{x:.1f}" y="18" class="title" text-anchor="middle">{escape(text)}</text>'


def _panel(panel: Panel) -> str:
    x0, x1 = MARGIN["left"], WIDTH - MARGIN["right"]
    y0, y1 = HEIGHT - MARGIN["bottom"], MARGIN["top"]
    xs = [x for s in panel.series for x, _ in s.points if math.isfinite(x)]
    ys = [y for s in panel.series for _, y in s.points if math.isfinite(y)]
    # An empty panel (nothing evaluated yet) still gets axes.
    lo_x = min(xs, default=0.0) if panel.x_min is None else min([panel.x_min, *xs])
    lo_x, hi_x = _span(lo_x, max(xs, default=1.0))
    lo_y = panel.y_min if panel.y_min is not None else min(ys, default=0.0)
    hi_y = panel.y_max if panel.y_max is not None else max(ys, default=1.0)
    hi_y = hi_y if panel.y_max is not None else _nice_top(hi_y)
    lo_y, hi_y = _span(min(lo_y, 0.0) if lo_y >= 0 else lo_y, hi_y)
    parts = [_title(panel.title, (x0 + x1) / 2), _y_axis(lo_y, hi_y, x0, x1, y0, y1,
                                                          panel.y_label)]
    x_ticks = _ticks(lo_x, hi_x)
    if panel.integer_x:
        x_ticks = [t for t in x_ticks if t == int(t)] or [lo_x, hi_x]
    for t in x_ticks:
        px = x0 + (t - lo_x) / (hi_x - lo_x) * (x1 - x0)
        parts.append(f'<path d="M{px:.1f},{y0}v4" class="axis"/><text x="{px:.1f}" '
                     f'y="{y0 + 16}" class="tick" text-anchor="middle">{_fmt(t)}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 + 34}" class="label" '
                 f'text-anchor="middle">{escape(panel.x_label)}</text>')

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (x0 + (x - lo_x) / (hi_x - lo_x) * (x1 - x0),
                y0 - (y - lo_y) / (hi_y - lo_y) * (y0 - y1))

    for s in panel.series:
        finite = [(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        pts = [to_px(x, y) for x, y in finite]
        if not pts:
            continue
        if s.line:
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            parts.append(f'<path d="{_path(pts, s.step)}" fill="none" stroke="{s.color}" '
                         f'stroke-width="2"{dash}><title>{escape(s.label)}</title></path>')
        if s.dots:
            for (px, py), (x, y) in zip(pts, finite, strict=True):
                parts.append(f'<path d="M{px - 3.5:.1f},{py:.1f}a3.5,3.5 0 1,0 7,0a3.5,3.5 0 1,'
                             f'0 -7,0" fill="{s.color}"><title>{escape(s.label)}: '
                             f"{_fmt(x)} → {_fmt(y)}</title></path>")
    return "".join(parts)


def _path(pts: list[tuple[float, float]], step: bool) -> str:
    if len(pts) == 1:  # a single point still draws a visible tick
        x, y = pts[0]
        return f"M{x - 4:.1f},{y:.1f}H{x + 4:.1f}"
    out = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for x, y in pts[1:]:
        out.append(f"H{x:.1f}V{y:.1f}" if step else f"L{x:.1f},{y:.1f}")
    return "".join(out)


def _y_axis(lo: float, hi: float, x0: float, x1: float, y0: float, y1: float,
            label: str) -> str:
    parts = [f'<path d="M{x0},{y1}V{y0}H{x1}" class="axis" fill="none"/>']
    for t in _ticks(lo, hi):
        py = y0 - (t - lo) / (hi - lo) * (y0 - y1)
        parts.append(f'<path d="M{x0 - 4},{py:.1f}H{x1}" class="grid"/><text x="{x0 - 7}" '
                     f'y="{py + 4:.1f}" class="tick" text-anchor="end">{_fmt(t)}</text>')
    mid = (y0 + y1) / 2
    parts.append(f'<text x="14" y="{mid:.1f}" class="label" text-anchor="middle" '
                 f'transform="rotate(-90 14 {mid:.1f})">{escape(label)}</text>')
    return "".join(parts)


def _legend(series: Sequence[Series], y: float) -> str:
    parts, x = [], float(MARGIN["left"])
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        mark = (f'<path d="M{x + 5.5:.0f},{y - 4}a3.5,3.5 0 1,0 7,0a3.5,3.5 0 1,0 -7,0" '
                f'fill="{s.color}"/>' if not s.line else
                f'<path d="M{x:.0f},{y - 4}h18" stroke="{s.color}" stroke-width="3"{dash}/>')
        parts.append(mark +
                     f'<text x="{x + 22:.0f}" y="{y}" class="tick">{escape(s.label)}</text>')
        x += 32 + 7 * len(s.label)
    return "".join(parts)


def _unique_series(panels: Sequence[Panel]) -> list[Series]:
    seen: dict[str, Series] = {}
    for p in panels:
        for s in p.series:
            seen.setdefault(s.label, s)
    return list(seen.values())


def _span(lo: float, hi: float) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-12:
        return (lo - 1.0, hi + 1.0) if lo else (0.0, 1.0)
    return lo, hi


def _nice_top(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= value * 1.02:
            return m * exp
    return 10 * exp


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    raw = (hi - lo) / count
    exp = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next((m * exp for m in (1, 2, 2.5, 5, 10) if m * exp >= raw), 10 * exp)
    first = math.ceil(lo / step - 1e-9) * step
    out: list[float] = []
    t = first
    while t <= hi + 1e-9 * step and len(out) < 20:
        out.append(round(t, 10))
        t += step
    return out


def _fmt(v: float) -> str:
    if abs(v) >= 1e6 or (0 < abs(v) < 1e-3):
        return f"{v:.1e}"
    if v == int(v):
        return f"{int(v):,}"
    return f"{v:.3g}"
