"""Shared Numba options for every jitted core in ``kernels_fast``.

``cache=True`` writes compiled machine code next to the sources (or into
``NUMBA_CACHE_DIR`` when that is set, which read-only installs need).
``nogil=True`` lets the streaming runtime run estimation in a worker thread.
The fastmath flags leave out ``nnan`` and ``ninf`` so NaN and inf guards keep
working inside jitted code.
"""

import numba

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": FASTMATH}


def njit(function):
    """Compile ``function`` with the package-wide options."""
    return numba.njit(**JIT_OPTIONS)(function)
