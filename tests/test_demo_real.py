"""``goodregions demo --sample real``: the full pipeline on the bundled real photo."""

import json

import cv2
import numpy as np
import pytest

from goodregions.runtime.cli import main

pytest.importorskip("onnxruntime")


def test_real_sample_demo_writes_result_overlay_and_kernel(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GOODREGIONS_MODEL", raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--sample", "real", "--prior", "l0"]) == 0
    captured = capsys.readouterr()
    summary = json.loads((out / "real_summary.json").read_text())
    if summary["selector"] == "xu":  # no model is shipped yet: the demo says so
        assert "xu selector" in captured.err
    assert summary["kernel_size"] == 45 and len(summary["window"]) == 4
    result = cv2.imread(str(out / "real_deblurred.png"))
    overlay = cv2.imread(str(out / "real_overlay.png"))
    assert result.shape == overlay.shape == (953, 1107, 3)
    kernel = np.load(out / "real_kernel.npy")
    assert kernel.shape == (45, 45) and abs(kernel.sum() - 1.0) < 1e-9
    assert not (out / "summary.json").exists()  # the synthetic part did not run
    assert main(["demo", "-o", str(out), "--sample", "real"]) == 2  # no overwrite
