"""Timing and reporting helpers shared by the benchmark commands: medians of repeated
runs, and the machine and versions every saved benchmark records."""

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import time
from pathlib import Path

_PACKAGES = ("goodregions", "numpy", "scipy", "numba", "rocket-fft", "opencv-python-headless", "onnxruntime", "onnxruntime-gpu")


def median_seconds(function, *, repeats):
    """Run ``function`` ``repeats`` times; return the median and all wall times in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def environment():
    """The machine, the date and the package versions, for the benchmark record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def add_json_option(parser):
    """Add ``--json PATH`` and ``--overwrite`` to a benchmark's parser; see :func:`check_json_option`."""
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON (an existing file needs --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")


def check_json_option(args):
    """Refuse an existing ``--json`` file before a long run, not after it."""
    from .image_io import check_writable

    if args.json is not None:
        check_writable(args.json, overwrite=args.overwrite)


def save_json(path, record):
    """Write ``record`` as indented JSON, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
