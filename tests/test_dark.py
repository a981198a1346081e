import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st

from goodregions.kernels_fast.dark import dark_channel


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    patch=st.sampled_from([1, 3, 5, 7, 15, 35]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_dark_channel_matches_brute_force_min_filter(shape, patch, dtype, seed):
    image = np.random.default_rng(seed).random(shape).astype(dtype)
    dark, argmin = dark_channel(image, patch=patch)
    # Edge replication adds no new values, so it equals windows clipped at the border.
    expected = scipy.ndimage.minimum_filter(image.astype(np.float64), size=patch, mode="nearest")
    np.testing.assert_array_equal(dark, expected)
    rows, cols = np.divmod(argmin, shape[1])
    np.testing.assert_array_equal(image.astype(np.float64)[rows, cols], dark)
    grid_rows, grid_cols = np.indices(shape)
    assert np.all(np.abs(rows - grid_rows) <= patch // 2)
    assert np.all(np.abs(cols - grid_cols) <= patch // 2)


@pytest.mark.parametrize(("patch", "error"), [(0, ValueError), (4, ValueError), (-3, ValueError), (2.5, TypeError)])
def test_dark_channel_rejects_bad_patch(patch, error):
    with pytest.raises(error, match="patch must be an"):
        dark_channel(np.zeros((5, 5)), patch=patch)
