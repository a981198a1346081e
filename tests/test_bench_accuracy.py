"""goodregions bench accuracy: the estimator settings it can try and a one-image run; and every benchmark's --json guard."""

import json

import pytest
from conftest import SHARED_DATA

from goodregions.runtime.bench_accuracy import parse_overrides, run_accuracy_benchmark
from goodregions.runtime.cli import main


def test_overrides_are_typed_like_the_defaults():
    assert parse_overrides(["iterations_per_level=4", "lambda_grad=0.004"]) == {"iterations_per_level": 4, "lambda_grad": 0.004}
    assert parse_overrides(None) == {}
    with pytest.raises(ValueError, match="EstimatorConfig field"):
        parse_overrides(["iterations=4"])
    with pytest.raises(ValueError, match="must be of type int like its default 5, got '4.5'"):
        parse_overrides(["iterations_per_level=4.5"])
    with pytest.raises(ValueError, match=r"--set: EstimatorConfig.kappa must lie in \(1.0, inf\), got 0.5"):
        parse_overrides(["kappa=0.5"])


def test_a_bad_set_is_a_usage_error(capsys):
    assert main(["bench", "accuracy", "--set", "nonsense"]) == 2
    assert "--set takes NAME=VALUE" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_DATA / "levin09_kernels").is_dir(), reason="needs the shared data folder")
def test_one_image_with_an_override_is_recorded(tmp_path):
    path = tmp_path / "accuracy.json"
    record = run_accuracy_benchmark(json_path=path, data_root=SHARED_DATA, workers=1, limit=1, priors=("l0",),
                                    overrides={"iterations_per_level": 2})
    saved = json.loads(path.read_text())
    assert saved["protocol"]["estimator_overrides"] == {"iterations_per_level": 2}
    assert list(saved["summary"]) == ["l0"] and len(saved["cases"]) == 8 == saved["summary"]["l0"]["cases"]
    assert {case["prior"] for case in record["cases"]} == {"l0"}
    assert all(case["error_ratio"] > 0.0 and 0.0 < case["similarity"] <= 1.0 for case in record["cases"])


@pytest.mark.skipif(not (SHARED_DATA / "levin09_kernels").is_dir(), reason="needs the shared data folder")
def test_another_noise_draw_gives_other_cases_and_is_recorded():
    quick = dict(data_root=SHARED_DATA, workers=1, limit=1, priors=("l0",), overrides={"iterations_per_level": 1})
    own, other = (run_accuracy_benchmark(noise_draw=draw, **quick) for draw in (0, 1))
    assert (own["protocol"]["noise_draw"], other["protocol"]["noise_draw"]) == (0, 1)
    assert [case["image"] for case in own["cases"]] == [case["image"] for case in other["cases"]]
    assert all(a["error_ratio"] != b["error_ratio"] for a, b in zip(own["cases"], other["cases"]))


def test_a_negative_or_fractional_noise_draw_is_refused():
    with pytest.raises(ValueError, match="noise_draw must be an int >= 0"):
        run_accuracy_benchmark(noise_draw=-1)
    with pytest.raises(TypeError, match="noise_draw must be an int, got float"):
        run_accuracy_benchmark(noise_draw=1.5)


@pytest.mark.parametrize("command", [
    ["bench", "kernels"], ["bench", "accuracy", "--limit", "1"], ["bench", "runtime"], ["bench", "registration"],
    ["eval-scorer", "missing.onnx", "--labels", "missing"],
])
def test_an_existing_json_file_is_refused_before_the_run(command, tmp_path, capsys):
    earlier = tmp_path / "results.json"
    earlier.write_text('{"earlier": "results"}\n')
    assert main([*command, "--json", str(earlier)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"goodregions {' '.join(command[:2]) if command[0] == 'bench' else command[0]}: error: ")
    assert "already exists; pass --overwrite" in err
    assert earlier.read_text() == '{"earlier": "results"}\n'


def test_an_existing_memory_plot_is_refused_before_the_run(tmp_path, capsys):
    plot = tmp_path / "rss.png"
    plot.write_bytes(b"earlier plot")
    assert main(["bench", "runtime", "--rss-plot", str(plot)]) == 2
    assert "rss.png' already exists" in capsys.readouterr().err and plot.read_bytes() == b"earlier plot"

