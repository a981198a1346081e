"""Resident memory of this process: current and peak RSS, samples over a stream, and a verdict on growth.

The figures come from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) on Linux. ``VmHWM`` is the
peak of this process's own address space. ``getrusage``'s ``ru_maxrss`` is not: Linux carries
it across ``exec``, so a child started by ``subprocess`` reports at least its parent's peak at
the time of the fork (the benchmark's 871 MiB "streaming" peak was the parent's). Elsewhere
both fall back to ``ru_maxrss``.
"""

from __future__ import annotations

import resource
import sys

import numpy as np

from goodregions.kernels_fast._validate import check_int

__all__ = ["FLAT_GROWTH_MB", "FLAT_GROWTH_SHARE", "RssSampler", "peak_rss_mb", "plot_rss", "rss_mb", "summarise_rss"]

# Memory counts as flat when its fitted trend after warm-up rises by at most the larger of these: a few tens of
# MiB absorb the allocator's and onnxruntime's arenas settling, while a leak of one 720p frame
# buffer (0.9 MiB in uint8) every 30 frames already adds about 90 MiB over 3,000 frames.
FLAT_GROWTH_MB = 32.0
FLAT_GROWTH_SHARE = 0.05


def _status_mb(field):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # the kernel writes kB
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024.0 * 1024.0) if sys.platform == "darwin" else kib / 1024.0  # bytes on macOS, KiB elsewhere


def rss_mb():
    """Resident memory of this process now, in MiB (``VmRSS``; the peak where /proc is missing)."""
    return _status_mb("VmRSS")


def peak_rss_mb():
    """Peak resident memory of this process, in MiB (``VmHWM``; see the module docstring)."""
    return _status_mb("VmHWM")


class RssSampler:
    """Record ``(frame, MiB)`` every ``every`` frames; call :meth:`update` once per frame.

    Parameters
    ----------
    every : int
        Sampling interval in frames (>= 1). The last frame is sampled by :meth:`finish`.

    Raises
    ------
    ValueError
        ``every`` is not an int >= 1.
    """

    def __init__(self, every):
        self.every = check_int(every, name="every", low=1, unit="frames between memory samples")
        self.frames, self.samples = 0, []

    def update(self, frames=1):
        """Count ``frames`` more frames; take a sample when a multiple of ``every`` is reached."""
        for _ in range(frames):
            self.frames += 1
            if self.frames % self.every == 0:
                self.samples.append([self.frames, round(rss_mb(), 1)])

    def finish(self):
        """Sample the last frame (when not sampled already) and return the samples."""
        if self.frames and (not self.samples or self.samples[-1][0] != self.frames):
            self.samples.append([self.frames, round(rss_mb(), 1)])
        return self.samples


def summarise_rss(samples, *, warm_after=300):
    """Summarise RSS samples: warm, last and peak RSS, growth after warm-up, its slope and a verdict.

    Parameters
    ----------
    samples : list of (int, float)
        ``(frame, MiB)`` in frame order, as :class:`RssSampler` records them.
    warm_after : int
        Frames of warm-up (imports, compilation, arenas): the growth is measured from the
        first sample at or after this frame, else (a shorter run) from the first sample.

    Returns
    -------
    dict
        ``warm_frame`` and ``warm_mb``, ``last_mb``, ``sampled_peak_mb``, ``growth_mb``
        (last - warm), ``slope_mb_per_1000_frames`` (least-squares line through the samples
        from the warm one on; None with fewer than two), ``trend_mb`` (that line's rise from
        the warm frame to the last; ``growth_mb`` without a line), ``flat`` and ``threshold_mb``.

    Raises
    ------
    ValueError
        No samples.

    Notes
    -----
    ``flat`` is ``trend_mb <= max(FLAT_GROWTH_MB, FLAT_GROWTH_SHARE * warm_mb)``. The verdict
    uses the fitted line, not ``growth_mb``: single samples swing by +-20 MiB while kernels are
    estimated (their buffers come and go), so two of them can differ by more than a leak would
    add in a short run, while the line averages all of them.
    """
    if not samples:
        raise ValueError("samples is empty; stream at least one frame with memory sampling on")
    frames = np.array([s[0] for s in samples], dtype=np.float64)
    mib = np.array([s[1] for s in samples], dtype=np.float64)
    warm = int(np.argmax(frames >= warm_after)) if frames[-1] >= warm_after else 0
    growth = float(mib[-1] - mib[warm])
    slope, trend = None, growth
    if len(frames) - warm >= 2:
        per_frame = float(np.polyfit(frames[warm:], mib[warm:], 1)[0])
        slope, trend = round(per_frame * 1000.0, 2), per_frame * float(frames[-1] - frames[warm])
    threshold = max(FLAT_GROWTH_MB, FLAT_GROWTH_SHARE * float(mib[warm]))
    return {"warm_frame": int(frames[warm]), "warm_mb": float(mib[warm]), "last_mb": float(mib[-1]),
            "sampled_peak_mb": float(mib.max()), "growth_mb": round(growth, 1), "slope_mb_per_1000_frames": slope,
            "trend_mb": round(trend, 1), "flat": trend <= threshold, "threshold_mb": round(threshold, 1)}


def plot_rss(samples, path, *, title):
    """Save a PNG of RSS (MiB) against the frame number; return False (nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6.0, 3.0), dpi=100)
    axes.plot([s[0] for s in samples], [s[1] for s in samples], marker=".", linewidth=1)
    axes.set_xlabel("frame")
    axes.set_ylabel("RSS (MiB)")
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True
