"""The shared integer check behind every count, size and seed at the public boundary."""

import numpy as np
import pytest

from goodregions.kernels_fast._validate import check_int, check_odd_size


def test_check_int_returns_a_python_int_for_numpy_integers():
    value = check_int(np.int64(7), name="frames", low=1)
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("value", [True, 2.0, "3", None])
def test_check_int_refuses_non_integers_with_a_type_error(value):
    with pytest.raises(TypeError, match=f"frames must be an int, got {type(value).__name__}"):
        check_int(value, name="frames", low=1)


def test_check_int_names_the_bound_the_unit_and_the_fix():
    with pytest.raises(ValueError, match=r"^every must be an int >= 1 \(frames\), got 0; try 30$"):
        check_int(0, name="every", low=1, unit="frames", hint="try 30")
    assert check_int(1, name="every", low=1) == 1
    assert check_int(-5, name="box x") == -5  # no bound: the caller checks the range itself


def test_check_odd_size_takes_a_lower_bound():
    assert check_odd_size(1, name="patch", low=1) == 1
    with pytest.raises(ValueError, match="patch must be an odd integer >= 1 so it has a centre pixel, got 4; try 5"):
        check_odd_size(4, name="patch", low=1)
