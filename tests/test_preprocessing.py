"""Transform's preprocessing_fn, run through tft_beam on a handful of events."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models import preprocessing
from pipeline import challenge

MISSING = challenge.MISSING_VALUE


def _raw_feature_spec():
    spec = {name: tf.io.FixedLenFeature([1], tf.float32) for name in challenge.FEATURES}
    spec[challenge.JET_COUNT] = tf.io.FixedLenFeature([1], tf.int64)
    spec[challenge.WEIGHT] = tf.io.FixedLenFeature([1], tf.float32)
    spec[challenge.LABEL] = tf.io.FixedLenFeature([1], tf.string)
    return spec


def _event(mass_mmc, jet_num, tau_pt, label, weight):
    event = {name: [1.0] for name in challenge.FEATURES}
    event["DER_mass_MMC"] = [mass_mmc]
    event[challenge.JET_COUNT] = [jet_num]
    event["PRI_tau_pt"] = [tau_pt]
    event[challenge.LABEL] = [label]
    event[challenge.WEIGHT] = [weight]
    return event


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    events = [
        _event(100.0, 0, 20.0, b"s", 0.002),
        _event(MISSING, 1, 30.0, b"b", 1.5),
        _event(140.0, 2, 40.0, b"b", 2.5),
        _event(MISSING, 3, 50.0, b"s", 0.003),
    ]
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(_raw_feature_spec())
    )
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (result, _), _ = (events, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn
        )
    return result


def _column(rows, key):
    return np.array([row[key] for row in rows], dtype=np.float64)


def test_missing_values_are_flagged_and_left_out_of_the_scaling(transformed):
    mass = preprocessing.value_key("DER_mass_MMC")
    missing = preprocessing.missing_key("DER_mass_MMC")

    np.testing.assert_array_equal(_column(transformed, missing), [0, 1, 0, 1])
    # Present values are 100 and 140: mean 120, standard deviation 20. A -999
    # counted as a number would have dragged both far away.
    np.testing.assert_allclose(
        _column(transformed, mass), [-1.0, 0.0, 1.0, 0.0], atol=1e-6
    )


def test_complete_features_are_z_scored(transformed):
    tau_pt = _column(transformed, preprocessing.value_key("PRI_tau_pt"))
    raw = np.array([20.0, 30.0, 40.0, 50.0])
    np.testing.assert_allclose(tau_pt, (raw - raw.mean()) / raw.std(), atol=1e-6)
    np.testing.assert_array_equal(
        _column(transformed, preprocessing.missing_key("PRI_tau_pt")), [0, 0, 0, 0]
    )


def test_jet_count_is_scaled_like_the_others(transformed):
    jets = _column(transformed, preprocessing.value_key(challenge.JET_COUNT))
    raw = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(jets, (raw - raw.mean()) / raw.std(), atol=1e-6)


def test_constant_feature_does_not_divide_by_zero(transformed):
    constant = _column(transformed, preprocessing.value_key("PRI_met"))
    np.testing.assert_array_equal(constant, [0.0, 0.0, 0.0, 0.0])


def test_label_is_one_for_signal_and_weight_passes_through(transformed):
    np.testing.assert_array_equal(
        _column(transformed, preprocessing.LABEL_KEY), [1, 0, 0, 1]
    )
    np.testing.assert_allclose(
        _column(transformed, preprocessing.WEIGHT_KEY),
        [0.002, 1.5, 2.5, 0.003],
        rtol=1e-6,
    )


def test_every_model_input_is_produced(transformed):
    expected = {
        key
        for feature in challenge.FEATURES
        for key in (
            preprocessing.value_key(feature),
            preprocessing.missing_key(feature),
        )
    } | {preprocessing.LABEL_KEY, preprocessing.WEIGHT_KEY}
    assert set(transformed[0]) == expected
