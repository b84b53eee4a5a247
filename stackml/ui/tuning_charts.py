"""Server-drawn SVG charts of the sweep page: optimization history, intermediate values,
parallel coordinates and slice plots.

The charts are small (a sweep has hundreds of trials, not millions of points), so they are
drawn here as inline SVG: no script, nothing to fetch, and colours come from the theme's CSS
variables, so light and dark themes both work. Each mark carries a ``<title>`` tooltip.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

__all__ = ["history_svg", "intermediate_svg", "parallel_svg", "slice_svg"]

W, H = 640, 260
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 14, 34


@dataclass
class Scale:
    """Maps data values to pixels; log scale when asked and possible."""

    lo: float
    hi: float
    a: float
    b: float
    log: bool = False

    @classmethod
    def of(cls, values: Sequence[float], a: float, b: float, *, log: bool = False) -> Scale:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if log and finite and min(finite) > 0:
            finite = [math.log10(v) for v in finite]
        else:
            log = False
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.05
        return cls(lo - pad, hi + pad, a, b, log)

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log and value > 0 else value
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def ticks(self, count: int = 5, *, integer: bool = False) -> list[tuple[float, str]]:
        if integer and not self.log:
            step = max(1, math.ceil((self.hi - self.lo) / (count - 1)))
            first = math.ceil(self.lo)
            return [(self(v), str(v)) for v in range(first, math.floor(self.hi) + 1, step)]
        out = []
        for i in range(count):
            v = self.lo + (self.hi - self.lo) * i / (count - 1)
            label = _short(10**v) if self.log else _short(v)
            real = 10**v if self.log else v
            out.append((self(real), label))
        return out


def _short(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _text(x: float, y: float, label: str, cls: str = "tick", anchor: str = "start") -> str:
    """One escaped SVG text label."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(label)}</text>'
    )


def _frame(
    x: Scale, y: Scale, xlabel: str, ylabel: str, w: int = W, h: int = H, *, integer: bool = False
) -> list[str]:
    parts = [
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{w - PAD_L - PAD_R}" height="{h - PAD_T - PAD_B}" '
        'class="plot-bg"/>'
    ]
    for py, label in y.ticks():
        parts.append(
            f'<line x1="{PAD_L}" x2="{w - PAD_R}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>'
        )
        parts.append(_text(PAD_L - 6, py + 4, label, anchor="end"))
    for px, label in x.ticks(integer=integer):
        parts.append(_text(px, h - PAD_B + 16, label, anchor="middle"))
    parts.append(_text((PAD_L + w - PAD_R) / 2, h - 4, xlabel, "axis-label", "middle"))
    parts.append(
        f'<text x="12" y="{(PAD_T + h - PAD_B) / 2}" class="axis-label" text-anchor="middle" '
        f'transform="rotate(-90 12 {(PAD_T + h - PAD_B) / 2})">{escape(ylabel)}</text>'
    )
    return parts


def _svg(parts: list[str], label: str, w: int = W, h: int = H, cls: str = "sweep-chart") -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg class="{cls}" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet">{body}</svg>'
    )


def history_svg(trials: Sequence[Any], maximize: bool, metric: str) -> Markup:
    """Objective value per trial (dots) and the best value so far (a step line)."""
    done = [t for t in trials if t.state == "complete" and t.values]
    xs = [float(t.number) for t in trials] or [0.0]
    x = Scale.of(xs, PAD_L, W - PAD_R)
    y = Scale.of([t.values[0] for t in done], H - PAD_B, PAD_T)
    parts = _frame(x, y, "trial", metric, integer=True)
    best: float | None = None
    points: list[tuple[float, float]] = []
    for t in sorted(done, key=lambda t: t.number):
        v = t.values[0]
        if best is None or (v > best if maximize else v < best):
            best = v
        points.append((x(t.number), y(best)))
    if points:
        d = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
        for (_, prev_y), (px, py) in itertools.pairwise(points):
            d.append(f"L{px:.1f},{prev_y:.1f}L{px:.1f},{py:.1f}")
        d.append(f"L{W - PAD_R},{points[-1][1]:.1f}")
        parts.append(f'<path d="{"".join(d)}" class="best-line"><title>best so far</title></path>')
    for t in done:
        parts.append(
            f'<circle cx="{x(t.number):.1f}" cy="{y(t.values[0]):.1f}" r="3.5" class="dot">'
            f"<title>trial {t.number}: {_short(t.values[0])}</title></circle>"
        )
    return _svg(parts, "Optimization history")


def intermediate_svg(trials: Sequence[Any], metric: str) -> Markup:
    """Each trial's intermediate values by step; pruned trials in red with a cross at the end."""
    curves = [t for t in trials if t.intermediate]
    steps = [float(s) for t in curves for s in t.intermediate] or [0.0]
    values = [v for t in curves for v in t.intermediate.values()]
    x = Scale.of(steps, PAD_L, W - PAD_R)
    y = Scale.of(values, H - PAD_B, PAD_T)
    parts = _frame(x, y, "step", metric, integer=True)
    for t in curves:
        pts = sorted(t.intermediate.items())
        d = "".join(
            f"{'M' if i == 0 else 'L'}{x(s):.1f},{y(v):.1f}" for i, (s, v) in enumerate(pts)
        )
        cls = "curve pruned" if t.state == "pruned" else "curve"
        tip = f"<title>trial {t.number} ({t.state})</title>"
        parts.append(f'<path d="{d}" class="{cls}" data-trial="{t.number}">{tip}</path>')
        if t.state == "pruned":
            sx, sy = x(pts[-1][0]), y(pts[-1][1])
            cross = (
                f"M{sx - 4:.1f},{sy - 4:.1f}L{sx + 4:.1f},{sy + 4:.1f}"
                f"M{sx - 4:.1f},{sy + 4:.1f}L{sx + 4:.1f},{sy - 4:.1f}"
            )
            tip = f"<title>trial {t.number} pruned at step {pts[-1][0]}</title>"
            parts.append(f'<path d="{cross}" class="prune-mark">{tip}</path>')
    return _svg(parts, "Intermediate values")


def _axis_values(
    name: str, spec: dict[str, Any], trials: Sequence[Any]
) -> tuple[Any, list[str] | None]:
    """A function value -> 0..1 for one parameter axis, and category labels if categorical."""
    if spec["type"] == "categorical":
        choices = [repr(c) if not isinstance(c, str) else c for c in spec["choices"]]
        n = max(1, len(choices) - 1)

        def pos_cat(v: Any) -> float:
            key = repr(v) if not isinstance(v, str) else v
            return choices.index(key) / n if key in choices else 0.5

        return pos_cat, choices
    log = bool(spec.get("log")) and spec["low"] > 0
    lo = math.log10(spec["low"]) if log else spec["low"]
    hi = math.log10(spec["high"]) if log else spec["high"]
    span = (hi - lo) or 1.0

    def pos_num(v: Any) -> float:
        value = math.log10(v) if log and v > 0 else float(v)
        return (value - lo) / span

    return pos_num, None


def parallel_svg(
    trials: Sequence[Any], space: dict[str, dict[str, Any]], maximize: bool, metric: str
) -> Markup:
    """One vertical axis per parameter and one for the objective; a line per completed trial,
    darker for better trials."""
    done = [t for t in trials if t.state == "complete" and t.values]
    names = list(space)
    axes = len(names) + 1
    w, h = max(1100, 180 * axes), 300
    top, bottom = 28, h - 30
    xs = [PAD_L + i * (w - PAD_L - 40) / max(1, axes - 1) for i in range(axes)]
    vals = [t.values[0] for t in done]
    vlo, vhi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    vspan = (vhi - vlo) or 1.0
    parts = []
    mappers = [_axis_values(n, space[n], done) for n in names]
    for t in done:
        quality = (t.values[0] - vlo) / vspan
        quality = quality if maximize else 1 - quality
        pts = []
        for i, n in enumerate(names):
            if n in t.params:
                pts.append((xs[i], bottom - mappers[i][0](t.params[n]) * (bottom - top)))
        pts.append((xs[-1], bottom - ((t.values[0] - vlo) / vspan) * (bottom - top)))
        d = "".join(f"{'M' if j == 0 else 'L'}{px:.1f},{py:.1f}" for j, (px, py) in enumerate(pts))
        opacity = 0.15 + 0.8 * quality
        parts.append(
            f'<path d="{d}" class="pc-line" style="stroke-opacity:{opacity:.2f}">'
            f"<title>trial {t.number}: {_short(t.values[0])}</title></path>"
        )
    for i, n in enumerate([*names, metric]):
        parts.append(
            f'<line x1="{xs[i]:.1f}" x2="{xs[i]:.1f}" y1="{top}" y2="{bottom}" class="pc-axis"/>'
        )
        parts.append(_text(xs[i], 16, n, "axis-label", "middle"))
        if i < len(names):
            spec = space[n]
            labels = mappers[i][1]
            if labels is not None:
                for k, lab in enumerate(labels):
                    py = bottom - k / max(1, len(labels) - 1) * (bottom - top)
                    parts.append(_text(xs[i] + 4, py + 4, lab))
            else:
                lo_label, hi_label = _short(spec["low"]), _short(spec["high"])
                parts.append(
                    f'<text x="{xs[i] + 4:.1f}" y="{bottom + 14}" class="tick">{lo_label}</text>'
                )
                parts.append(
                    f'<text x="{xs[i] + 4:.1f}" y="{top - 2}" class="tick">{hi_label}</text>'
                )
        else:
            parts.append(_text(xs[i] - 4, bottom + 14, _short(vlo), anchor="end"))
            parts.append(_text(xs[i] - 4, top - 2, _short(vhi), anchor="end"))
    return _svg(parts, "Parallel coordinates", w, h)


def slice_svg(trials: Sequence[Any], name: str, spec: dict[str, Any], metric: str) -> Markup:
    """Objective against one parameter, a dot per completed trial."""
    w, h = 320, 200
    done = [t for t in trials if t.state == "complete" and t.values and name in t.params]
    y = Scale.of([t.values[0] for t in done], h - PAD_B, PAD_T)
    if spec["type"] == "categorical":
        choices = list(spec["choices"])
        x = Scale(-0.5, len(choices) - 0.5, PAD_L, w - PAD_R)
        parts = _frame(Scale(0, 1, PAD_L, w - PAD_R), y, name, metric, w, h)
        parts = [p for p in parts if 'class="tick" text-anchor="middle"' not in p]
        for k, c in enumerate(choices):
            parts.append(_text(x(k), h - PAD_B + 16, str(c), anchor="middle"))
        for t in done:
            k = choices.index(t.params[name]) if t.params[name] in choices else 0
            jitter = ((t.number * 37) % 11 - 5) / 40
            tip = f"trial {t.number}: {t.params[name]} → {_short(t.values[0])}"
            parts.append(
                f'<circle cx="{x(k + jitter):.1f}" cy="{y(t.values[0]):.1f}" r="3" class="dot">'
                f"<title>{escape(tip)}</title></circle>"
            )
    else:
        x = Scale.of([spec["low"], spec["high"]], PAD_L, w - PAD_R, log=bool(spec.get("log")))
        parts = _frame(x, y, name, metric, w, h, integer=spec["type"] == "int")
        for t in done:
            tip = f"trial {t.number}: {_short(float(t.params[name]))} → {_short(t.values[0])}"
            parts.append(
                f'<circle cx="{x(t.params[name]):.1f}" cy="{y(t.values[0]):.1f}" r="3" class="dot">'
                f"<title>{escape(tip)}</title></circle>"
            )
    return _svg(parts, f"Slice plot of {name}", w, h, cls="sweep-chart slice")
