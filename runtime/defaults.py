"""Defaults shared by the runtime and by the training labels, which must match it."""

# Window geometry of the paper: 228×228 windows at a stride of 20 pixels.
WINDOW_SIZE = 228
WINDOW_STRIDE = 20

# The runtime estimates with the L0 prior: about 3x faster than the dark channel at
# similar accuracy on the development benchmark (BENCHMARKS.md). Labels use it too.
PRIOR = "l0"

# A window is "good" when its estimated kernel's similarity to the true one exceeds this.
GOOD_SIMILARITY = 0.75
