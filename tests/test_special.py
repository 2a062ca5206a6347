"""The erf kernel: float32's single rational function and float64's Cody branches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphdiff.ops.special import erf

_exact = np.vectorize(math.erf, otypes=[np.float64])


def test_float32_erf_within_ten_ulp_of_the_exact_value() -> None:
    # normal float32 results; near the subnormals x^2 underflows, and only the absolute error
    # stays small
    x = np.concatenate([np.linspace(-6, 6, 400_001), np.geomspace(1e-37, 6, 20_001),
                        -np.geomspace(1e-37, 6, 20_001)]).astype(np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    want = _exact(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - want) / ulp) <= 10
    tiny = np.geomspace(1e-45, 1e-37, 1000).astype(np.float32)
    assert np.max(np.abs(erf(tiny) - _exact(tiny.astype(np.float64)))) < 1e-43


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_special_values_and_writing_over_its_operand(dtype: str) -> None:
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 4.0, -4.0, 40.0, 1e-30], dtype)
    got = erf(x)
    np.testing.assert_array_equal(got[:5], np.array([np.nan, 1, -1, 0, 0], dtype))
    np.testing.assert_allclose(got[5:7], [math.erf(4.0), -math.erf(4.0)], rtol=1e-7)
    assert got[7] == 1 and not np.signbit(got[3]) and np.signbit(got[4])
    np.testing.assert_allclose(got[8], 2 / math.sqrt(math.pi) * 1e-30, rtol=1e-6)
    in_place = x.copy()
    assert erf(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, got)


def test_float64_erf_to_rounding() -> None:
    x = np.linspace(-7, 7, 20_001)
    np.testing.assert_allclose(erf(x), _exact(x), rtol=1e-15, atol=1e-300)
