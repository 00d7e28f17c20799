"""How an exported model's selection becomes the submission's Class column."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from components.submission import _write_submission
from models import trainer
from pipeline import scoring


def _export_selection(model_dir, stored: dict) -> str:
    path = os.path.join(model_dir, trainer.CUT_FILE)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        json.dump(stored, handle)
    return str(model_dir)


def test_choose_share_keeps_a_pure_top_selection():
    # The three most signal-like events are signal; taking two more would
    # add one signal and one background. Unpadded, the pure top three give
    # the higher AMS; padded by two background events they would not.
    scores = np.linspace(0.9, 0.0, 10)
    labels = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    weights = np.ones(10)
    share, cut, best_ams = trainer.choose_share(scores, labels, weights)
    assert share == pytest.approx(0.3)
    assert cut == pytest.approx(0.7)
    assert best_ams == pytest.approx(scoring.ams_at_cut(scores, labels, weights, cut))
    padded_cut, _ = scoring.best_cut(scores, labels, weights, 2.0)
    assert scoring.selected_share(scores, padded_cut) == pytest.approx(0.5)


def test_read_selection_prefers_the_share(tmp_path):
    model_dir = _export_selection(
        tmp_path, {"share": 0.15, "out_of_fold_cut": 0.8, "out_of_fold_ams": 3.1}
    )
    assert trainer.read_selection(model_dir) == ("share", 0.15)


def test_read_selection_falls_back_to_an_older_models_cut(tmp_path):
    model_dir = _export_selection(tmp_path, {"cut": 0.7, "out_of_fold_ams": 2.0})
    assert trainer.read_selection(model_dir) == ("cut", 0.7)


def test_read_selection_names_a_file_without_either(tmp_path):
    model_dir = _export_selection(tmp_path, {"out_of_fold_ams": 2.0})
    with pytest.raises(ValueError, match="ams_cut.json"):
        trainer.read_selection(model_dir)


def _written(tmp_path, selection, batches):
    path = str(tmp_path / "submission.csv")
    count = _write_submission(batches, selection, [path])
    frame = pd.read_csv(path)
    assert count == len(frame)
    return frame.set_index("EventId")["Class"]


def test_a_share_selects_the_top_events_across_batches(tmp_path):
    batches = [
        (np.array([1, 2, 3]), np.array([0.40, 0.41, 0.10])),
        (np.array([4, 5]), np.array([0.45, 0.20])),
    ]
    classes = _written(tmp_path, ("share", 0.4), batches)
    assert classes.to_dict() == {1: "b", 2: "s", 3: "b", 4: "s", 5: "b"}


def test_a_stored_cut_is_applied_to_the_scores(tmp_path):
    batches = [(np.array([1, 2, 3]), np.array([0.40, 0.41, 0.10]))]
    classes = _written(tmp_path, ("cut", 0.4), batches)
    assert classes.to_dict() == {1: "s", 2: "s", 3: "b"}
