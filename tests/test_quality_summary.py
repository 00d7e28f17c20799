"""The benchmark's summary of per-fold figures."""

import pytest

from benchmarks import quality


def _folds(ams_values):
    return [{"lstm": {"auc": 0.9, "ams": value, "cut": 0.5}} for value in ams_values]


def test_summary_gives_mean_spread_and_median_per_figure():
    summary = quality.summarise(_folds([3.0, 3.2, 2.8, 3.1, 17.0]))
    ams = summary["lstm"]["ams"]
    assert ams["mean"] == pytest.approx(5.82)
    assert ams["median"] == pytest.approx(3.1)
    assert ams["std"] > 5.0
    assert summary["lstm"]["auc"] == {"mean": 0.9, "std": 0.0, "median": 0.9}


def test_table_has_one_row_per_approach_with_the_median():
    rows = quality.table(quality.summarise(_folds([3.0, 4.0]))).splitlines()
    assert rows[0] == "| approach | AUC | AMS | AMS median |"
    assert rows[2] == "| lstm | 0.900 ± 0.000 | 3.500 ± 0.500 | 3.500 |"
