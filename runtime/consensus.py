"""Choose one kernel among estimates from several windows by their agreement.

The blur of a camera-shake photo is (nearly) the same everywhere, so kernels estimated on
different good windows should agree, while a window that misled the estimator (thin repeated
edges, a flat patch) gives a kernel unlike the others. Among the estimates of the scorer's
best few windows, the one with the largest summed similarity to the others is kept.

On the development images (never the validation ones) this chose better than the scorer's
single best window, and better than keeping the candidate whose deconvolution has the
sparsest gradients (Krishnan et al.'s L1/L2 measure), which chose worse than the best window
alone. The number of candidates was chosen there too (BENCHMARKS.md, "Evaluation").
"""

import numpy as np

from goodregions.kernels_fast import kernel_similarity

__all__ = ["most_agreeing"]


def most_agreeing(kernels):
    """Return the index of the kernel most similar to the others.

    Parameters
    ----------
    kernels : sequence of ndarray
        Estimated kernels, best-ranked window first.

    Returns
    -------
    int
        Index into ``kernels``. With one or two kernels there is no majority, so the first
        (best-ranked) one is kept; ties also go to the better-ranked kernel.

    Raises
    ------
    ValueError
        An empty sequence.
    """
    count = len(kernels)
    if count == 0:
        raise ValueError("kernels must hold at least one kernel, got an empty sequence")
    if count <= 2:
        return 0
    agreement = np.zeros(count)
    for i in range(count):
        for j in range(i + 1, count):
            similarity = kernel_similarity(kernels[i], kernels[j])
            agreement[i] += similarity
            agreement[j] += similarity
    return int(np.argmax(agreement))  # argmax takes the first maximum: the better rank
