"""The backbone-modes table: paired by seed, ratios to fine-tuning."""

import pytest

from keras_attn.studies import modes_report


def _results(none, unified, wall):
    def runs(accs, last):
        return [
            {"seed": s, "test_accuracy": a, "last_test_accuracy": a + last,
             "wall_seconds": wall}
            for s, a in enumerate(accs)
        ]  # fmt: skip

    return {
        "variants": {
            "none": {"runs": runs(none, 0.0)},
            "unified": {"runs": runs(unified, 0.01)},
        }
    }


def test_rows_pair_by_seed_and_compare_with_finetune():
    cells = {
        ("tin", "finetune"): _results([0.30, 0.32, 0.31], [0.31, 0.31, 0.33], 500.0),
        ("tin", "frozen"): _results([0.28, 0.29, 0.27], [0.28, 0.29, 0.28], 50.0),
        ("tin", "lp-ft"): _results([0.31, 0.33, 0.32], [0.33, 0.34, 0.35], 550.0),
    }
    rows = modes_report.summarise(cells)
    assert [r["mode"] for r in rows] == ["frozen", "finetune", "lp-ft"]
    frozen, finetune, lp_ft = rows
    diff = finetune["unified_minus_none_test_accuracy"]
    assert diff["per_seed"] == {"0": 1.0, "1": -1.0, "2": 2.0}
    assert diff["mean"] == pytest.approx(2 / 3)
    last = finetune["unified_minus_none_last_test_accuracy"]
    assert last["mean"] == pytest.approx(2 / 3 + 1)
    assert frozen["wall_vs_finetune"] == pytest.approx(0.1)
    none_frozen = frozen["minus_finetune"]["none"]["test_accuracy"]
    assert none_frozen["per_seed"] == {"0": -2.0, "1": -3.0, "2": -4.0}
    lp_ft_minus = lp_ft["minus_finetune"]
    assert lp_ft_minus["none"]["test_accuracy"]["mean"] == pytest.approx(1.0)
    # unified: +2, +3, +2 points at the kept epoch; the last epoch adds the
    # same 0.01 to both modes, so the difference is the same there.
    assert lp_ft_minus["unified"]["test_accuracy"]["mean"] == pytest.approx(7 / 3)
    assert lp_ft_minus["unified"]["last_test_accuracy"]["mean"] == pytest.approx(7 / 3)
    assert "minus_finetune" not in finetune
    table = modes_report.markdown(rows)
    assert "| tin | `frozen` | 28.0 ± 1.0 |" in table
    assert "| +1.0 ± 0.0 / +2.3 ± 0.6 | +1.0 ± 0.0 / +2.3 ± 0.6 |" in table
    assert "(0.10x)" in table and "(+1.0, -1.0, +2.0)" in table


def test_unpaired_seeds_are_left_out():
    a = _results([0.3, 0.4], [0.5, 0.5], 10.0)
    a["variants"]["unified"]["runs"].pop(0)  # seed 0 missing for unified
    (row,) = modes_report.summarise({("x", "finetune"): a})
    assert row["unified_minus_none_test_accuracy"]["per_seed"] == {"1": 10.0}
    assert "**+10.0 (1 seed)** (+10.0)" in modes_report.markdown([row])
