"""Sparklines keep the shape of small changes."""

from __future__ import annotations

from driftscan.reports.trend import sparkline


def test_sparkline_scales_to_the_series() -> None:
    assert sparkline([40, 30, 20, 12]) == "█▅▃▁"
    assert sparkline([4, 3, 1]) == "█▆▁"  # a few repos in a big org still show their shape
    assert sparkline([5, 5, 5]) == "▄▄▄"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
