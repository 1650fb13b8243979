"""Charts for the HTML report: pygal SVG made accessible and self-contained.

Every chart gets an accessible title and description (role="img", aria-labelledby), stable
ids, and loses pygal's generator comments and tooltip script, so the page fetches nothing.
Colours come from a palette that stays distinguishable with colour-vision deficiencies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pygal
from pygal.style import Style

from driftscan.engine.trend import NONE_VALUE

OTHER = "other"
TARGET = "target (goal)"

# Okabe-Ito's hues (distinguishable with the common colour-vision deficiencies) without its
# black and yellow, which vanish on a dark or a white page; grey is "other" and "(none)".
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#AA4499",
    "#999933",
)
GREY = "#8A9099"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', 'Liberation Sans', sans-serif"

STYLE: dict[str, Any] = {
    "background": "transparent",
    "plot_background": "transparent",
    "foreground": "currentColor",  # the charts follow the page's text colour (dark mode included)
    "foreground_strong": "currentColor",
    "foreground_subtle": "rgba(128, 128, 128, .55)",
    "guide_stroke_color": "rgba(128, 128, 128, .45)",
    "major_guide_stroke_color": "rgba(128, 128, 128, .6)",
    "font_family": FONT,
    "label_font_size": 14,
    "major_label_font_size": 14,
    "value_font_size": 13,
    "value_label_font_size": 13,
    "legend_font_size": 14,
    "title_font_size": 15,
    "tooltip_font_size": 12,
    "no_data_font_size": 18,
    "opacity": ".9",
    "opacity_hover": ".9",
    "stroke_opacity": "1",
    "stroke_opacity_hover": "1",
    "stroke_width": "2.5",
    "stroke_width_hover": "2.5",
    "transition": "0ms",
}


def chart_style(colors: Sequence[str] = PALETTE) -> Style:
    return Style(colors=tuple(colors), **STYLE)


def muted(label: str) -> bool:
    """ "(none)", "other (N values)" and a goal's target: drawn in grey. (Value ids have no
    spaces, so none of them can look like these.)"""
    return (
        label in (NONE_VALUE, TARGET) or re.fullmatch(rf"{OTHER} \(\d+ values\)", label) is not None
    )


def series_colors(labels: Sequence[str]) -> list[str]:
    """Palette colours in order, grey for the muted series."""
    out, i = [], 0
    for label in labels:
        if muted(label):
            out.append(GREY)
        else:
            out.append(PALETTE[i % len(PALETTE)])
            i += 1
    return out


def nice_ticks(high: float, integer: bool = False, most: int = 6) -> list[float]:
    """Axis ticks from 0 to at least `high` in round steps (1, 2 or 5 x 10^n)."""
    high = max(high, 1.0 if integer else 0.01)
    steps = [m * 10.0**e for e in range(-2, 12) for m in (1, 2, 5)]
    step = next(s for s in steps if (not integer or s >= 1) and math.ceil(high / s - 1e-9) <= most)
    count = math.ceil(high / step - 1e-9)
    return [round(i * step, 6) for i in range(count + 1)]


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>|<script\b[^>]*/>", re.S)


class Charts:
    """Renders pygal charts as inline, accessible SVG with deterministic ids."""

    def __init__(self) -> None:
        self.count = 0

    def svg(self, chart: Any, title: str, description: str, kind: str = "") -> str:
        self.count += 1
        chart_id = f"c{self.count}"
        chart.uuid = chart_id  # pygal prefixes its CSS with #chart-<uuid>: keep it stable

        def accessible(root: Any) -> Any:
            for child in list(root):
                tag = str(child.tag).rsplit("}", 1)[-1]
                if tag == "title":
                    child.text = title
                    child.set("id", f"chart-{chart_id}-title")
                    desc = root.makeelement(child.tag.replace("title", "desc"), {})
                    desc.text = description
                    desc.set("id", f"chart-{chart_id}-desc")
                    root.insert(list(root).index(child) + 1, desc)
                    break
            root.set("role", "img")
            root.set("aria-labelledby", f"chart-{chart_id}-title chart-{chart_id}-desc")
            root.set("class", f"{root.get('class', '')} chart {kind}".strip())
            return root

        chart.add_xml_filter(accessible)
        svg: str = chart.render(is_unicode=True)
        # pygal's generator comments name its web site, and its one inline script only feeds the
        # tooltip library, which is not loaded (js=[]): neither belongs in an offline page.
        svg = _COMMENT.sub("", svg)
        return _SCRIPT.sub("", svg)


def chart_config(**overrides: Any) -> pygal.Config:
    config = pygal.Config()
    config.js = []  # no external tooltip script
    config.css = ["file://style.css", "file://graph.css"]  # pygal's own, inlined
    config.disable_xml_declaration = True
    config.style = chart_style()
    config.width = 600
    config.show_legend = False
    config.truncate_label = -1
    config.truncate_legend = -1
    config.margin = 12
    config.spacing = 10
    config.tooltip_border_radius = 0
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def horizontal_bars(
    bars: int, high: float, x_title: str, y_title: str, **overrides: Any
) -> pygal.HorizontalBar:
    """A horizontal bar chart of whole numbers from 0, sized to its bars, values printed."""
    ticks = nice_ticks(high, integer=True)
    return pygal.HorizontalBar(
        chart_config(
            height=80 + 32 * bars,
            print_values=True,
            print_values_position="top",
            # pygal keeps the titles where a vertical chart has them: x below, y beside
            x_title=x_title,
            y_title=y_title,
            range=(0, ticks[-1]),
            y_labels=ticks,
            value_formatter=lambda n: f"{n:g}",
            **overrides,
        )
    )
