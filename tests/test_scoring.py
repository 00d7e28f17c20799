"""Tests of the AMS, the choice of the cut and the submission files."""

import io
import math

import numpy as np
import pandas as pd
import pytest

from pipeline import challenge, scoring

SIGNAL_TOTAL = challenge.SIGNAL_WEIGHT_TOTAL
BACKGROUND_TOTAL = challenge.BACKGROUND_WEIGHT_TOTAL


# --- ams -------------------------------------------------------------------


def test_ams_hand_computed_values():
    # s=1, b=0, b_reg=10: 2 * (11 * ln(1.1) - 1) = 2 * (1.04841198 - 1)
    # = 0.09682396, whose square root is 0.31116548.
    assert scoring.ams(1.0, 0.0) == pytest.approx(0.31116548, rel=1e-7)
    # s=10, b=100: 2 * (120 * ln(120 / 110) - 10) = 2 * (10.44136524 - 10)
    # = 0.88273048, whose square root is 0.93953737 (near s / sqrt(b + b_reg)
    # = 0.9535, the large-b limit).
    assert scoring.ams(10.0, 100.0) == pytest.approx(0.93953737, rel=1e-7)
    # s=346, b=0: 2 * (356 * ln(35.6) - 346) = 2 * (1271.7426 - 346), root 43.0292.
    assert scoring.ams(346.0, 0.0) == pytest.approx(43.029177, rel=1e-7)


def test_ams_default_regularisation_is_the_challenges():
    assert scoring.ams(1.0, 0.0) == scoring.ams(1.0, 0.0, b_reg=10.0)
    # Without regularisation, s=1 over b=10 is the same as s=1 over b=0 above.
    assert scoring.ams(1.0, 10.0, b_reg=0.0) == pytest.approx(scoring.ams(1.0, 0.0))


def test_ams_is_zero_without_signal_and_grows_with_it():
    assert scoring.ams(0.0, 500.0) == 0.0
    assert scoring.ams(5.0, 500.0) < scoring.ams(6.0, 500.0)
    assert scoring.ams(5.0, 500.0) > scoring.ams(5.0, 600.0)


def test_ams_matches_the_large_background_limit():
    s, b = 3.0, 1e8
    assert scoring.ams(s, b) == pytest.approx(s / math.sqrt(b + 10.0), rel=1e-6)


def test_ams_works_elementwise():
    s = np.array([1.0, 10.0, 0.0])
    b = np.array([0.0, 100.0, 7.0])
    values = scoring.ams(s, b)
    assert isinstance(values, np.ndarray)
    np.testing.assert_allclose(values, [0.31116548, 0.93953737, 0.0], rtol=1e-7)


def test_ams_returns_a_python_float_for_scalars():
    assert type(scoring.ams(1.0, 2.0)) is float


@pytest.mark.parametrize(
    "s, b", [(-1.0, 0.0), (1.0, -1.0), (float("nan"), 1.0), (1.0, float("inf"))]
)
def test_ams_rejects_negative_or_non_finite_weights(s, b):
    with pytest.raises(ValueError, match="AMS needs"):
        scoring.ams(s, b)


# --- renormalised_weights ----------------------------------------------------


def test_renormalised_weights_scale_each_class_to_its_total():
    labels = np.array([1, 0, 1, 0, 0])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 2.0])
    scaled = scoring.renormalised_weights(labels, weights)
    np.testing.assert_allclose(
        scaled,
        [
            SIGNAL_TOTAL / 4,
            BACKGROUND_TOTAL * 2 / 8,
            SIGNAL_TOTAL * 3 / 4,
            BACKGROUND_TOTAL * 4 / 8,
            BACKGROUND_TOTAL * 2 / 8,
        ],
        rtol=1e-12,
    )
    assert scaled[labels == 1].sum() == pytest.approx(SIGNAL_TOTAL, rel=1e-12)
    assert scaled[labels == 0].sum() == pytest.approx(BACKGROUND_TOTAL, rel=1e-12)
    # The input is left as it was.
    np.testing.assert_array_equal(weights, [1.0, 2.0, 3.0, 4.0, 2.0])


def test_renormalised_weights_accept_bool_labels():
    scaled = scoring.renormalised_weights([True, False], [5.0, 5.0])
    np.testing.assert_allclose(scaled, [SIGNAL_TOTAL, BACKGROUND_TOTAL])


@pytest.mark.parametrize(
    "labels, weights, message",
    [
        ([0, 0], [1.0, 1.0], "no signal events"),
        ([1, 1], [1.0, 1.0], "no background events"),
        ([], [], "no signal events"),
        ([1, 0], [1.0, 1.0, 1.0], "differ in length"),
        ([1, 0], [1.0, 0.0], "positive"),
        ([1, 0], [-1.0, 1.0], "positive"),
        ([1, 0], [1.0, float("nan")], "finite"),
        ([1, 2], [1.0, 1.0], "0 .background. or 1 .signal., got 2"),
        ([[1, 0]], [[1.0, 1.0]], "1-D"),
    ],
)
def test_renormalised_weights_errors(labels, weights, message):
    with pytest.raises(ValueError, match=message):
        scoring.renormalised_weights(labels, weights)


# --- best_cut and ams_at_cut -------------------------------------------------


def test_best_cut_selects_exactly_the_signal_when_it_is_separable():
    scores = [0.1, 0.9, 0.3, 0.8]
    labels = [0, 1, 0, 1]
    weights = [1.0, 1.0, 1.0, 1.0]
    cut, value = scoring.best_cut(scores, labels, weights)
    # Cut 0.8 takes both signal events (s = the whole signal total) and no
    # background; a higher cut loses half the signal, a lower one adds half
    # the background.
    assert cut == 0.8
    assert value == pytest.approx(scoring.ams(SIGNAL_TOTAL, 0.0), rel=1e-12)


@pytest.mark.parametrize(
    "scores, labels",
    [
        # The tied pair at 0.8 holds one signal and one background event; both
        # orders within the tie must give the same answer.
        ([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]),
        ([0.9, 0.8, 0.8, 0.1], [1, 0, 1, 0]),
        ([0.8, 0.1, 0.9, 0.8], [0, 0, 1, 1]),
    ],
)
def test_best_cut_keeps_tied_scores_together(scores, labels):
    cut, value = scoring.best_cut(scores, labels, [1.0, 1.0, 1.0, 1.0])
    # Candidates: cut 0.9 gives half the signal total, s=345.9943, b=0:
    # 2 * (355.9943 * ln(35.59943) - 345.9943) = 2 * (1271.7290 - 345.9943),
    # AMS 43.02870; cut 0.8 must take the tied background too, s=692,
    # b=205500, AMS about 692 / sqrt(205510) = 1.53; cut 0.1 takes everything.
    # Splitting the tie (s=692, b=0) would wrongly win with AMS about 68.
    assert cut == 0.9
    assert value == pytest.approx(43.02870, rel=1e-6)
    assert value == pytest.approx(scoring.ams(SIGNAL_TOTAL / 2, 0.0), rel=1e-12)


def test_best_cut_prefers_a_lower_cut_when_the_extra_signal_is_worth_it():
    # Background weights are scaled by about 594 relative to signal, so one
    # background event of weight 1e-6 in 1e6 costs almost nothing.
    scores = [0.9, 0.5, 0.5, 0.2]
    labels = [1, 1, 0, 0]
    weights = [1.0, 1.0, 1e-6, 1.0]
    cut, value = scoring.best_cut(scores, labels, weights)
    assert cut == 0.5
    background = BACKGROUND_TOTAL * 1e-6 / (1.0 + 1e-6)
    assert value == pytest.approx(scoring.ams(SIGNAL_TOTAL, background), rel=1e-12)


def _events_with_tied_scores(seed: int, n: int):
    """Random labelled events whose scores are mostly shared by several events."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.round(np.clip(0.3 * labels + rng.normal(0.35, 0.2, n), 0, 1), 2)
    weights = np.where(labels == 1, rng.uniform(0.001, 0.01, n), rng.uniform(1, 5, n))
    return scores, labels, weights


def test_best_cut_matches_brute_force_on_random_data_with_ties():
    scores, labels, weights = _events_with_tied_scores(7, 400)
    cut, value = scoring.best_cut(scores, labels, weights)

    brute = {c: scoring.ams_at_cut(scores, labels, weights, c) for c in set(scores)}
    best = max(brute.values())
    assert value == pytest.approx(best, rel=1e-9)
    assert brute[cut] == pytest.approx(value, rel=1e-9)
    assert cut == max(c for c, v in brute.items() if v >= best * (1 - 1e-12))


def test_best_cut_reproduces_its_ams_with_score_at_least_cut():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 1000)
    scores = rng.uniform(size=1000).astype(np.float32) + 0.1 * labels
    weights = rng.uniform(0.5, 2.0, 1000)
    cut, value = scoring.best_cut(scores, labels, weights)
    assert np.any(scores == cut)
    assert scoring.ams_at_cut(scores, labels, weights, cut) == pytest.approx(
        value, rel=1e-12
    )


def test_pseudo_background_moves_the_cut_off_a_lucky_background_free_one():
    # Four signal and four background events of equal weight, so each carries
    # a quarter of its class's total. The top event is signal, the second
    # background, then the other three signal events.
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1]
    labels = [1, 0, 1, 1, 1, 0, 0, 0]
    weights = [1.0] * 8
    quarter_background = BACKGROUND_TOTAL / 4

    cut, value = scoring.best_cut(scores, labels, weights)
    # Unpadded, the cut above the background event wins: s = S / 4, b = 0.
    assert cut == 0.9
    assert value == pytest.approx(scoring.ams(SIGNAL_TOTAL / 4, 0.0), rel=1e-12)

    cut, value = scoring.best_cut(scores, labels, weights, pseudo_background_events=1)
    # Padded by one background event, cut 0.9 compares as (S / 4, B / 4) and
    # cut 0.5 as (S, B / 2): four times the signal for twice the background.
    assert scoring.ams(SIGNAL_TOTAL, 2 * quarter_background) > scoring.ams(
        SIGNAL_TOTAL / 4, quarter_background
    )
    assert cut == 0.5
    # The AMS returned is the selection's own, without the padding.
    assert value == pytest.approx(
        scoring.ams(SIGNAL_TOTAL, quarter_background), rel=1e-12
    )


def test_pseudo_background_matches_brute_force_on_random_data():
    scores, labels, weights = _events_with_tied_scores(11, 300)
    scaled = scoring.renormalised_weights(labels, weights)
    padding = 2.5 * scaled[labels == 0].mean()

    def padded_ams(c):
        selected = scores >= c
        return scoring.ams(
            scaled[selected & (labels == 1)].sum(),
            scaled[selected & (labels == 0)].sum() + padding,
        )

    brute = {c: padded_ams(c) for c in set(scores)}
    best = max(brute.values())
    cut, value = scoring.best_cut(scores, labels, weights, pseudo_background_events=2.5)
    assert brute[cut] == pytest.approx(best, rel=1e-9)
    assert cut == max(c for c, v in brute.items() if v >= best * (1 - 1e-12))
    assert value == pytest.approx(
        scoring.ams_at_cut(scores, labels, weights, cut), rel=1e-12
    )


def test_best_cut_errors():
    with pytest.raises(ValueError, match="differ in length"):
        scoring.best_cut([0.5, 0.6, 0.7], [1, 0], [1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        scoring.best_cut([0.5, float("nan")], [1, 0], [1.0, 1.0])
    with pytest.raises(ValueError, match="no background"):
        scoring.best_cut([0.5, 0.6], [1, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match="pseudo_background_events"):
        scoring.best_cut([0.5, 0.6], [1, 0], [1.0, 1.0], pseudo_background_events=-1)


def test_ams_at_cut_hand_computed():
    scores = [0.9, 0.8, 0.8, 0.1]
    labels = [1, 1, 0, 0]
    weights = [1.0, 1.0, 1.0, 1.0]
    # Half the signal and no background, as in the tie test above.
    assert scoring.ams_at_cut(scores, labels, weights, 0.85) == pytest.approx(
        43.02870, rel=1e-6
    )
    assert scoring.ams_at_cut(scores, labels, weights, 0.8) == pytest.approx(
        scoring.ams(SIGNAL_TOTAL, BACKGROUND_TOTAL / 2), rel=1e-12
    )
    assert scoring.ams_at_cut(scores, labels, weights, 0.95) == 0.0


# --- selected_share and cut_for_share ---------------------------------------------


def test_cut_for_share_selects_that_many_top_events():
    scores = [0.1, 0.9, 0.4, 0.7, 0.3]
    assert scoring.cut_for_share(scores, 0.4) == 0.7
    assert scoring.selected_share(scores, 0.7) == pytest.approx(0.4)
    assert scoring.cut_for_share(scores, 1.0) == 0.1
    # 0.33 of five events rounds to two; 0.05 rounds to none.
    assert scoring.cut_for_share(scores, 0.33) == 0.7
    assert scoring.cut_for_share(scores, 0.05) == float("inf")
    assert scoring.selected_share(scores, float("inf")) == 0.0


def test_cut_for_share_selects_ties_together():
    scores = [0.2, 0.5, 0.5, 0.5, 0.9]
    cut = scoring.cut_for_share(scores, 0.4)
    assert cut == 0.5
    assert scoring.selected_share(scores, cut) == pytest.approx(0.8)


def test_share_carries_a_selection_to_differently_scaled_scores():
    # The same ranking on a compressed scale, as an average of members gives:
    # the cut found on one does not transfer, the share does.
    rng = np.random.default_rng(3)
    single = rng.uniform(size=1000)
    averaged = 0.4 + 0.2 * single
    cut = scoring.cut_for_share(single, 0.15)
    share = scoring.selected_share(single, cut)
    assert scoring.selected_share(averaged, cut) == 0.0
    moved = scoring.cut_for_share(averaged, share)
    np.testing.assert_array_equal(averaged >= moved, single >= cut)


def test_cut_for_share_rejects_bad_input():
    with pytest.raises(ValueError, match="between 0 and 1"):
        scoring.cut_for_share([0.5, 0.6], 1.5)
    with pytest.raises(ValueError, match="no events"):
        scoring.cut_for_share([], 0.5)
    with pytest.raises(ValueError, match="finite"):
        scoring.cut_for_share([0.5, float("nan")], 0.5)
    with pytest.raises(ValueError, match="no events"):
        scoring.selected_share([], 0.5)


# --- rank_order ----------------------------------------------------------------


def test_rank_order_gives_n_to_the_most_signal_like():
    np.testing.assert_array_equal(scoring.rank_order([0.2, 0.9, 0.5]), [1, 3, 2])


def test_rank_order_breaks_ties_by_position():
    ranks = scoring.rank_order([0.5, 0.5, 0.1, 0.5])
    np.testing.assert_array_equal(ranks, [2, 3, 1, 4])
    np.testing.assert_array_equal(scoring.rank_order([0.5, 0.5, 0.1, 0.5]), ranks)
    # Long runs of ties too, where an unstable sort would shuffle them.
    scores = np.tile([0.7, 0.2, 0.7, 0.4], 50)
    ranks = scoring.rank_order(scores)
    for value in (0.2, 0.4, 0.7):
        tied = ranks[scores == value]
        np.testing.assert_array_equal(tied, np.sort(tied))
        assert tied.max() - tied.min() == len(tied) - 1


def test_rank_order_is_a_permutation_in_score_order():
    rng = np.random.default_rng(11)
    scores = np.round(rng.uniform(size=5000), 2)
    ranks = scoring.rank_order(scores)
    assert ranks.dtype.kind == "i"
    np.testing.assert_array_equal(np.sort(ranks), np.arange(1, 5001))
    by_rank = scores[np.argsort(ranks)]
    assert np.all(np.diff(by_rank) >= 0)


def test_rank_order_rejects_non_finite_scores():
    with pytest.raises(ValueError, match="finite"):
        scoring.rank_order([0.5, float("inf")])


# --- make_submission -------------------------------------------------------------


def test_make_submission_format():
    frame = scoring.make_submission(
        [350000, 350001, 350002, 350003], [0.2, 0.9, 0.5, 0.7], 0.5
    )
    assert list(frame.columns) == ["EventId", "RankOrder", "Class"]
    assert frame["EventId"].tolist() == [350000, 350001, 350002, 350003]
    assert frame["RankOrder"].tolist() == [1, 4, 2, 3]
    assert frame["Class"].tolist() == ["b", "s", "s", "s"]
    scoring.validate_submission(
        frame, expected_event_ids=[350003, 350002, 350001, 350000]
    )


def test_make_submission_signal_holds_exactly_the_top_ranks():
    rng = np.random.default_rng(5)
    n = 2000
    scores = np.round(rng.uniform(size=n), 2)
    frame = scoring.make_submission(np.arange(100000, 100000 + n), scores, 0.37)
    is_signal = (frame["Class"] == "s").to_numpy()
    signal_count = int((scores >= 0.37).sum())
    assert is_signal.sum() == signal_count
    top = frame["RankOrder"].to_numpy() > n - signal_count
    np.testing.assert_array_equal(is_signal, top)
    scoring.validate_submission(frame)


def test_make_submission_with_extreme_cuts():
    everything = scoring.make_submission([1, 2], [0.3, 0.6], -np.inf)
    assert everything["Class"].tolist() == ["s", "s"]
    nothing = scoring.make_submission([1, 2], [0.3, 0.6], np.inf)
    assert nothing["Class"].tolist() == ["b", "b"]


@pytest.mark.parametrize(
    "event_ids, scores, cut, message",
    [
        ([1, 2, 3], [0.1, 0.2], 0.5, "differ in length"),
        ([], [], 0.5, "without events"),
        ([7, 8, 7], [0.1, 0.2, 0.3], 0.5, "duplicate EventId: 7"),
        ([1, 2], [0.1, float("nan")], 0.5, "finite"),
        ([1, 2], [0.1, float("-inf")], 0.5, "finite"),
        ([1, 2], [0.1, 0.2], float("nan"), "cut is NaN"),
    ],
)
def test_make_submission_errors(event_ids, scores, cut, message):
    with pytest.raises(ValueError, match=message):
        scoring.make_submission(event_ids, scores, cut)


# --- validate_submission ---------------------------------------------------------


def _good_submission() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "EventId": [10, 11, 12, 13],
            "RankOrder": [2, 4, 1, 3],
            "Class": ["b", "s", "b", "s"],
        }
    )


def test_validate_submission_accepts_a_good_one():
    scoring.validate_submission(_good_submission())
    scoring.validate_submission(_good_submission(), expected_event_ids={10, 11, 12, 13})


def test_validate_submission_accepts_all_one_class():
    frame = _good_submission()
    frame["Class"] = "b"
    scoring.validate_submission(frame)
    frame["Class"] = "s"
    scoring.validate_submission(frame)


def _broken(column, values):
    frame = _good_submission()
    frame[column] = values
    return frame


@pytest.mark.parametrize(
    "frame, message",
    [
        (_good_submission()[["RankOrder", "EventId", "Class"]], "columns must be"),
        (_good_submission().drop(columns="Class"), "columns must be"),
        (_good_submission().assign(Extra=1), "columns must be"),
        (_good_submission().iloc[:0], "no rows"),
        (_broken("EventId", [10, 11, 10, 13]), "duplicate EventId in submission: 10"),
        (_broken("EventId", [10, None, 12, 13]), "missing EventId"),
        (_broken("RankOrder", [1, 3, 0, 2]), "from 1 to 4, got 0"),
        (_broken("RankOrder", [2, 5, 1, 3]), "from 1 to 4, got 5"),
        (_broken("RankOrder", [2, 4, 2, 3]), "permutation of 1..4; repeated: 2"),
        (_broken("RankOrder", [2.0, 4.0, 1.0, 3.0]), "must be integers"),
        (_broken("Class", ["b", "s", "B", "s"]), "got 'B'"),
        (_broken("Class", ["b", "s", None, "s"]), "got None"),
        (_broken("Class", ["s", "b", "b", "s"]), "'s' has RankOrder 2 and a 'b' has 4"),
    ],
)
def test_validate_submission_catches_each_broken_rule(frame, message):
    with pytest.raises(ValueError, match=message):
        scoring.validate_submission(frame)


def test_validate_submission_checks_the_expected_event_ids():
    with pytest.raises(ValueError, match=r"1 missing \(14\); 1 unexpected \(13\)"):
        scoring.validate_submission(
            _good_submission(), expected_event_ids=[10, 11, 12, 14]
        )
    with pytest.raises(ValueError, match=r"1 missing \(14\)"):
        scoring.validate_submission(
            _good_submission(), expected_event_ids=[10, 11, 12, 13, 14]
        )
    with pytest.raises(ValueError, match=r"1 unexpected \(13\)"):
        scoring.validate_submission(_good_submission(), expected_event_ids=[10, 11, 12])


# --- write_submission ------------------------------------------------------------


def test_write_submission_round_trips(tmp_path):
    frame = scoring.make_submission([350000, 350001, 350002], [0.2, 0.9, 0.5], 0.5)
    path = tmp_path / "submission.csv"
    scoring.write_submission(frame, str(path))
    text = path.read_text()
    assert text.splitlines()[0] == "EventId,RankOrder,Class"
    assert text == "EventId,RankOrder,Class\n350000,1,b\n350001,3,s\n350002,2,s\n"
    back = pd.read_csv(path)
    scoring.validate_submission(back, expected_event_ids=[350000, 350001, 350002])
    pd.testing.assert_frame_equal(back, frame)


def test_write_submission_uses_open_fn():
    written = {}

    class Recorder(io.StringIO):
        def __init__(self, path, mode):
            super().__init__()
            assert mode == "w"
            self.path = path

        def close(self):
            written[self.path] = self.getvalue()
            super().close()

    frame = scoring.make_submission([1, 2], [0.3, 0.6], 0.5)
    scoring.write_submission(frame, "gs://bucket/submission.csv", open_fn=Recorder)
    assert written == {
        "gs://bucket/submission.csv": "EventId,RankOrder,Class\n1,1,b\n2,2,s\n"
    }


def test_write_submission_refuses_a_broken_submission(tmp_path):
    path = tmp_path / "submission.csv"
    with pytest.raises(ValueError, match="permutation"):
        scoring.write_submission(_broken("RankOrder", [2, 4, 2, 3]), str(path))
    assert not path.exists()
