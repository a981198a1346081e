"""most_agreeing: the kernel that agrees most with the others is kept."""

import numpy as np
import pytest
from conftest import line_kernel

from goodregions.runtime.consensus import most_agreeing

HORIZONTAL = line_kernel(15, [(0, -4), (0, 4)])
VERTICAL = line_kernel(15, [(-4, 0), (4, 0)])


def test_the_odd_one_out_is_not_kept():
    shifted = np.roll(HORIZONTAL, 2, axis=1)  # the same blur up to a translation
    assert most_agreeing([VERTICAL, HORIZONTAL, shifted]) == 1
    assert most_agreeing([shifted, VERTICAL, HORIZONTAL, np.roll(VERTICAL, 1, axis=0), HORIZONTAL]) in (0, 2, 4)


def test_without_a_majority_the_best_ranked_is_kept():
    assert most_agreeing([VERTICAL]) == 0
    assert most_agreeing([VERTICAL, HORIZONTAL]) == 0
    assert most_agreeing([HORIZONTAL, HORIZONTAL.copy(), HORIZONTAL.copy()]) == 0


def test_empty_is_refused():
    with pytest.raises(ValueError, match="at least one kernel"):
        most_agreeing([])
