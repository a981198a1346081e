"""Keep the deblurred frames of a stream in register when the kernel is re-estimated.

Two estimates of one blur often sit up to a pixel apart (``kernels_fast.kernel_alignment``),
and each new kernel would move the picture by that much: on a still scene the video jumps
at every re-estimation. So each kernel is deconvolved translated onto the *anchor*, the
first kernel of its blur. Registering each kernel to the anchor rather than to the
previous kernel keeps the errors of the offsets from adding up over a long stream. A kernel
less similar to the anchor than ``min_similarity`` is another blur: it becomes the anchor,
untranslated, and the picture may move once.
"""

from goodregions.kernels_fast import kernel_offset

from .defaults import GOOD_SIMILARITY

__all__ = ["KernelRegistration"]


class KernelRegistration:
    """The translation to deconvolve each successive kernel with (see the module docstring).

    Parameters
    ----------
    min_similarity : float
        Kernel similarity to the anchor below which a kernel starts a new anchor; by default
        the similarity that labels a kernel estimate good.
    """

    def __init__(self, min_similarity=GOOD_SIMILARITY):
        if not 0.0 < min_similarity <= 1.0:
            raise ValueError(f"min_similarity must lie in (0, 1], got {min_similarity!r}")
        self.min_similarity = float(min_similarity)
        self.anchor = None

    def shift_for(self, kernel):
        """Return ``(dy, dx)``: pass it as ``psf_to_otf(kernel, shape, shift=...)`` for ``kernel``."""
        if self.anchor is not None:
            similarity, offset = kernel_offset(kernel, self.anchor)
            if similarity >= self.min_similarity:
                return offset
        self.anchor = kernel
        return (0.0, 0.0)
