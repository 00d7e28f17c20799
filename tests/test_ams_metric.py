"""Tests of the streaming AMS metric against the numpy scoring functions."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from models.ams_metric import AMS
from pipeline import challenge, scoring


def _events(seed: int, n: int = 5000, dtype=np.float64):
    """Random labelled events with challenge-like weights and useful scores."""
    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=n) < 0.35).astype(np.int64)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.18), 0.0, 1.0).astype(dtype)
    # Signal weights are small and background weights large, as in the challenge.
    weights = np.where(labels == 1, rng.uniform(1e-3, 3e-3, n), rng.uniform(0.5, 5, n))
    return labels, scores, weights


def _best_over_bin_edges(scores, labels, weights, num_bins):
    return max(
        scoring.ams_at_cut(scores, labels, weights, k / num_bins)
        for k in range(num_bins)
    )


def _result(metric) -> float:
    return float(metric.result().numpy())


@pytest.mark.parametrize("num_bins", [1, 10, 200])
def test_result_is_the_best_ams_over_bin_edges(num_bins):
    labels, scores, weights = _events(seed=num_bins)
    metric = AMS(num_bins=num_bins)
    metric.update_state(labels, scores, sample_weight=weights)
    expected = _best_over_bin_edges(scores, labels, weights, num_bins)
    assert expected > 0
    assert _result(metric) == pytest.approx(expected, rel=1e-4)


def test_result_with_a_single_bin_is_the_ams_of_selecting_everything():
    labels, scores, weights = _events(seed=1)
    metric = AMS(num_bins=1)
    metric.update_state(labels, scores, sample_weight=weights)
    everything = scoring.ams(
        challenge.SIGNAL_WEIGHT_TOTAL, challenge.BACKGROUND_WEIGHT_TOTAL
    )
    assert _result(metric) == pytest.approx(everything, rel=1e-5)


def test_result_matches_best_cut_when_scores_lie_on_the_bin_edges():
    num_bins = 100
    labels, scores, weights = _events(seed=2)
    # Every score a bin edge k / num_bins, so every distinct score is one of
    # the cuts the metric tries, and it must find best_cut's exact optimum.
    scores = np.minimum(np.floor(scores * num_bins), num_bins - 1) / num_bins
    metric = AMS(num_bins=num_bins)
    metric.update_state(labels, scores, sample_weight=weights)
    _, best = scoring.best_cut(scores, labels, weights)
    assert _result(metric) == pytest.approx(best, rel=1e-5)


def test_result_approaches_best_cut_with_fine_bins():
    labels, scores, weights = _events(seed=4, dtype=np.float32)
    metric = AMS()
    metric.update_state(labels, scores, sample_weight=weights)
    _, best = scoring.best_cut(scores, labels, weights)
    assert _result(metric) <= best * (1 + 1e-6)
    assert _result(metric) == pytest.approx(best, rel=0.02)


def test_batching_does_not_change_the_result():
    labels, scores, weights = _events(seed=5)
    whole = AMS(num_bins=50)
    whole.update_state(labels, scores, sample_weight=weights)
    batched = AMS(num_bins=50)
    for start in range(0, len(labels), 777):
        part = slice(start, start + 777)
        batched.update_state(labels[part], scores[part], sample_weight=weights[part])
    assert _result(batched) == pytest.approx(_result(whole), rel=1e-6)
    np.testing.assert_allclose(
        batched.signal_histogram.numpy(), whole.signal_histogram.numpy(), rtol=1e-9
    )
    np.testing.assert_allclose(
        batched.background_histogram.numpy(),
        whole.background_histogram.numpy(),
        rtol=1e-9,
    )


def test_column_shapes_are_accepted():
    labels, scores, weights = _events(seed=6, n=1000, dtype=np.float32)
    flat = AMS(num_bins=20)
    flat.update_state(labels, scores, sample_weight=weights)
    columns = AMS(num_bins=20)
    columns.update_state(
        labels[:, None].astype(np.float32),
        scores[:, None],
        sample_weight=weights[:, None],
    )
    assert _result(columns) == pytest.approx(_result(flat), rel=1e-6)
    assert _result(flat) > 0


def test_histograms_hold_the_weighted_sums_per_bin():
    metric = AMS(num_bins=4)
    metric.update_state(
        [1, 0, 1, 0, 0, 1],
        # 0.25 opens bin 1; 1.0 and values beyond [0, 1] go to the end bins.
        [0.1, 0.25, 0.3, 1.0, -0.5, 1.5],
        sample_weight=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    )
    np.testing.assert_array_equal(metric.signal_histogram.numpy(), [1, 3, 0, 6])
    np.testing.assert_array_equal(metric.background_histogram.numpy(), [5, 2, 0, 4])


def test_missing_sample_weight_counts_each_event_once():
    labels, scores, _ = _events(seed=8, n=2000)
    unweighted = AMS(num_bins=30)
    unweighted.update_state(labels, scores)
    ones = AMS(num_bins=30)
    ones.update_state(labels, scores, sample_weight=np.ones(len(labels)))
    assert _result(unweighted) == pytest.approx(_result(ones), rel=1e-9)
    expected = _best_over_bin_edges(scores, labels, np.ones(len(labels)), 30)
    assert _result(unweighted) == pytest.approx(expected, rel=1e-4)


def test_result_is_zero_while_a_class_is_absent():
    metric = AMS(num_bins=10)
    assert _result(metric) == 0.0
    metric.update_state([1, 1], [0.9, 0.8], sample_weight=[1.0, 1.0])
    assert _result(metric) == 0.0
    metric.reset_state()
    metric.update_state([0, 0], [0.9, 0.8], sample_weight=[1.0, 1.0])
    assert _result(metric) == 0.0
    metric.update_state([1], [0.95], sample_weight=[1.0])
    # Now separable: the top bin holds all the signal and no background.
    assert _result(metric) == pytest.approx(
        scoring.ams(challenge.SIGNAL_WEIGHT_TOTAL, 0.0), rel=1e-5
    )


def test_reset_state_forgets_everything():
    labels, scores, weights = _events(seed=9, n=1000)
    metric = AMS(num_bins=25)
    metric.update_state(labels[::-1], scores, sample_weight=weights)
    metric.reset_state()
    assert not metric.signal_histogram.numpy().any()
    assert not metric.background_histogram.numpy().any()
    metric.update_state(labels, scores, sample_weight=weights)
    fresh = AMS(num_bins=25)
    fresh.update_state(labels, scores, sample_weight=weights)
    assert _result(metric) == pytest.approx(_result(fresh), rel=1e-12)


def test_config_round_trip():
    metric = AMS(num_bins=123, name="validation_ams")
    config = metric.get_config()
    assert config["num_bins"] == 123
    assert config["name"] == "validation_ams"
    copy = AMS.from_config(config)
    assert copy.num_bins == 123
    assert copy.name == "validation_ams"
    assert copy.signal_histogram.shape == (123,)


def test_registered_for_keras_serialisation():
    assert tf_keras.utils.get_registered_name(AMS) == "higgs_tfx>AMS"
    serialised = tf_keras.metrics.serialize(AMS(num_bins=7))
    restored = tf_keras.metrics.deserialize(serialised)
    assert isinstance(restored, AMS)
    assert restored.num_bins == 7
    assert restored.name == "ams"


@pytest.mark.parametrize("num_bins", [0, -3, 2.5, True])
def test_num_bins_must_be_a_positive_integer(num_bins):
    with pytest.raises(ValueError, match="num_bins"):
        AMS(num_bins=num_bins)


def test_works_inside_tf_function():
    labels, scores, weights = _events(seed=10, n=3000, dtype=np.float32)
    metric = AMS(num_bins=40)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 1], tf.float32),
            tf.TensorSpec([None, 1], tf.float32),
            tf.TensorSpec([None], tf.float32),
        ]
    )
    def step(y_true, y_pred, sample_weight):
        metric.update_state(y_true, y_pred, sample_weight=sample_weight)
        return metric.result()

    for start in range(0, len(labels), 1000):
        part = slice(start, start + 1000)
        value = step(
            labels[part, None].astype(np.float32),
            scores[part, None],
            weights[part].astype(np.float32),
        )
    eager = AMS(num_bins=40)
    eager.update_state(labels, scores, sample_weight=weights.astype(np.float32))
    assert float(value) == pytest.approx(_result(eager), rel=1e-6)
    assert float(value) > 0


def test_works_as_a_compiled_keras_metric():
    labels, scores, weights = _events(seed=12, n=512, dtype=np.float32)
    inputs = tf_keras.Input(shape=(1,))
    model = tf_keras.Model(inputs, inputs)
    model.compile(weighted_metrics=[AMS(num_bins=16)])
    results = model.evaluate(
        scores[:, None],
        labels[:, None].astype(np.float32),
        sample_weight=weights,
        batch_size=100,
        return_dict=True,
        verbose=0,
    )
    expected = _best_over_bin_edges(scores, labels, weights, 16)
    assert results["ams"] == pytest.approx(expected, rel=1e-4)
