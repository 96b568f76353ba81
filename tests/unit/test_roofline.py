"""The TPOT floor arithmetic, and a bandwidth measurement that returns a plausible number."""

from __future__ import annotations

import pytest

from playbook.sizing.roofline import measure_copy_bandwidth, roofline


def test_floor_is_weight_bytes_over_bandwidth():
    line = roofline(weight_bytes=16 * 10**9, bandwidth_bytes_s=2 * 10**12, tpot_measured_ms=12.0)
    assert line.tpot_floor_ms == pytest.approx(8.0) and line.ratio == pytest.approx(1.5)
    assert roofline(10**9, 10**9, None).ratio is None


def test_cpu_copy_bandwidth_is_measured():
    assert 1e8 < measure_copy_bandwidth("cpu", size_mib=16, repeats=2) < 1e13
