"""``goodregions bench registration``: the record it saves, on a short run, and its bad options."""

import json

import pytest

from goodregions.runtime.bench_registration import run_registration_benchmark
from goodregions.runtime.cli import main


def test_a_short_run_saves_both_rows_with_their_jumps(tmp_path, capsys):
    path = tmp_path / "registration.json"
    record = run_registration_benchmark(json_path=path, frames=20, every=4, pause=0.15, selector="whole")
    assert json.loads(path.read_text()) == json.loads(json.dumps(record))
    baseline, registered = record["rows"]
    assert (baseline["align_kernels"], registered["align_kernels"]) == (False, True)
    assert set(baseline["kernel_shifts"]) == {(0.0, 0.0)}
    for row in record["rows"]:
        assert len(row["jumps_px"]) == row["kernel_changes"] >= 1
        assert row["max_jump_px"] == max(row["jumps_px"]) and row["max_jump_px"] >= row["median_jump_px"] >= 0.0
    # One shift per kernel that arrived, the first untranslated.
    assert len(registered["kernel_shifts"]) == registered["kernel_changes"] + 1 and registered["kernel_shifts"][0] == (0.0, 0.0)
    assert "registered (align_kernels)" in capsys.readouterr().out


@pytest.mark.parametrize("options, match", [({"frames": 1}, "frames must be an int >= 2"), ({"pause": -1}, "pause must be")])
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        run_registration_benchmark(**options)


def test_the_command_is_wired(tmp_path):
    assert main(["bench", "registration", "--frames", "8", "--every", "4", "--pause", "0.05",
                 "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["benchmark"] == "registration"
