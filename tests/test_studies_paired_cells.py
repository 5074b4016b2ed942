"""screen_report: cells paired by seed with the right baseline."""

import json

import pytest

from keras_attn.studies import paired_cells


def _results(path, variants):
    runs = {
        name: [
            {"seed": s, "val_accuracy": v, "last_val_accuracy": v,
             "test_accuracy": v / 2, "last_test_accuracy": v / 2}
            for s, v in enumerate(values)
        ]
        for name, values in variants.items()
    }  # fmt: skip
    path.mkdir()
    (path / "results.json").write_text(
        json.dumps({"variants": {n: {"runs": r} for n, r in runs.items()}})
    )
    return str(path)


def test_stage3_cells_pair_with_the_two_stage_head_and_others_with_none(tmp_path):
    folder = _results(
        tmp_path / "screen",
        {
            "none": [0.10, 0.20, 0.30],
            "none@34": [0.20, 0.30, 0.40],
            "unified": [0.11, 0.22, 0.33],
            "unified@3": [0.25, 0.33, 0.41],
        },
    )
    (path,) = paired_cells.parse_sources(folder).values()
    cells = paired_cells.load_cells({"": path})
    rows = {r["cell"]: r for r in paired_cells.rows(cells)}
    assert rows["unified"]["baseline"] == "none"
    assert rows["unified@3"]["baseline"] == "none@34"
    assert rows["none@34"]["baseline"] == "none"
    mean, std = rows["unified"]["val_accuracy_minus_baseline"]
    assert mean == pytest.approx(0.02) and std == pytest.approx(0.01)
    mean, _ = rows["unified@3"]["test_accuracy_minus_baseline"]
    assert mean == pytest.approx((0.05 + 0.03 + 0.01) / 3 / 2)
    assert "| `unified@3` | 3 | 33.0 ± 8.0 | 3.0 ± 2.0 |" in paired_cells.markdown(
        list(rows.values())
    )


def test_missing_results_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="No results at .*reproduce.py"):
        paired_cells.parse_sources(f"a={tmp_path}")
