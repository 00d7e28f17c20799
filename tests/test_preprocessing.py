"""Transform's preprocessing_fn, run through tft_beam on a handful of events."""

import math

import numpy as np
import pytest
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from models import features, preprocessing
from pipeline import challenge
from tests.conftest import curated_schema

MISSING = challenge.MISSING_VALUE
JET_FEATURES = tuple(
    name
    for name in challenge.FEATURES
    if "jet" in name and name not in (challenge.JET_COUNT, "PRI_jet_all_pt")
)


def _event(mass_mmc, jet_num, tau_pt, label, weight):
    event = {name: [1.0] for name in challenge.FEATURES}
    event["DER_mass_MMC"] = [mass_mmc]
    event[challenge.JET_COUNT] = [jet_num]
    event["PRI_tau_pt"] = [tau_pt]
    if jet_num < 2:
        for name in JET_FEATURES:
            if "subleading" in name or "jet_jet" in name or "centrality" in name:
                event[name] = [MISSING]
    if jet_num == 0:
        for name in JET_FEATURES:
            event[name] = [MISSING]
    event[challenge.LABEL] = [label]
    event[challenge.EVENT_ID] = [100000]
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
    return _transform(events, tmp_path_factory.mktemp("tft"))


def _transform(events, temp_dir):
    metadata = dataset_metadata.DatasetMetadata(curated_schema())
    with tft_beam.Context(temp_dir=str(temp_dir)):
        (result, _), _ = (events, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn
        )
    return result


def _column(rows, key):
    return np.array([row[key] for row in rows], dtype=np.float64)


def _event_feature(rows, name):
    return _column(rows, preprocessing.EVENT_KEY)[:, features.EVENT_SCALARS.index(name)]


def _bins(rows, name):
    """The piecewise-linear encoding of one event-level feature: [events, bins]."""
    start = len(features.EVENT_SCALARS) + (
        features.EVENT_SCALARS.index(name) * preprocessing.QUANTILE_BINS
    )
    return _column(rows, preprocessing.EVENT_KEY)[
        :, start : start + preprocessing.QUANTILE_BINS
    ]


def _indicator(rows, name):
    column = len(features.EVENT_SCALARS) * (
        1 + preprocessing.QUANTILE_BINS
    ) + features.MAY_BE_MISSING.index(name)
    return _column(rows, preprocessing.EVENT_KEY)[:, column]


def _object(rows, name, key):
    slots = _column(rows, preprocessing.OBJECTS_KEY).reshape(
        len(rows), len(features.OBJECTS), features.OBJECT_WIDTH
    )
    return slots[:, features.OBJECTS.index(name), features.KINEMATICS.index(key)]


def test_outputs_have_the_widths_the_model_reads(transformed):
    assert set(transformed[0]) == {
        preprocessing.OBJECTS_KEY,
        preprocessing.EVENT_KEY,
        preprocessing.LABEL_KEY,
        preprocessing.WEIGHT_KEY,
        preprocessing.EVENT_ID_KEY,
    }
    assert _column(transformed, preprocessing.OBJECTS_KEY).shape == (
        4,
        preprocessing.OBJECTS_WIDTH,
    )
    assert _column(transformed, preprocessing.EVENT_KEY).shape == (
        4,
        preprocessing.EVENT_WIDTH,
    )


def test_missing_mass_is_flagged_and_left_out_of_the_scaling(transformed):
    np.testing.assert_array_equal(_indicator(transformed, "DER_mass_MMC"), [0, 1, 0, 1])
    # Present values log to log(101) and log(141): z-scored, -1 and +1. A -999
    # counted as a number would have dragged the mean and spread far away.
    np.testing.assert_allclose(
        _event_feature(transformed, "DER_mass_MMC"), [-1.0, 0.0, 1.0, 0.0], atol=1e-5
    )


def test_missing_mass_encodes_as_no_bins(transformed):
    bins = _bins(transformed, "DER_mass_MMC")
    np.testing.assert_array_equal(bins[[1, 3]], 0.0)
    # Of the two present masses, 100 is the lowest and fills no bin.
    np.testing.assert_array_equal(bins[0], 0.0)
    assert bins[2].sum() > 0.0


def test_bins_fill_in_order_and_split_the_events_evenly(tmp_path):
    masses = np.linspace(20.0, 250.0, 32)
    events = [_event(120.0, 1, 30.0, b"b", 1.0) for _ in masses]
    for event, mass in zip(events, masses, strict=True):
        event["DER_mass_vis"] = [float(mass)]
    bins = _bins(_transform(events, tmp_path), "DER_mass_vis")

    assert ((bins >= 0.0) & (bins <= 1.0)).all()
    # A bin starts to fill only once the bins below it are full.
    partly_filled = (bins > 0.0) & (bins < 1.0)
    assert (partly_filled.sum(axis=1) <= 1).all()
    assert (np.diff(bins, axis=1) <= 0.0).all()
    # The encoding keeps the order of the values, and each bin spans about an
    # equal share of the events.
    assert (np.diff(bins.sum(axis=1)) > 0.0).all()
    np.testing.assert_array_equal(bins[0], 0.0)
    np.testing.assert_array_equal(bins[-1], 1.0)
    events_past_each_bin = (bins == 1.0).sum(axis=0)
    bin_count = preprocessing.QUANTILE_BINS
    expected = len(masses) * (1.0 - np.arange(1, bin_count + 1) / bin_count)
    np.testing.assert_allclose(events_past_each_bin, expected, atol=2.0)


def test_tau_log_pt_is_z_scored(transformed):
    logged = np.log1p([20.0, 30.0, 40.0, 50.0])
    np.testing.assert_allclose(
        _object(transformed, "tau", "log_pt"),
        (logged - logged.mean()) / logged.std(),
        atol=1e-5,
    )


def test_missing_jets_are_zero_with_their_presence_flags(transformed):
    np.testing.assert_array_equal(
        _object(transformed, "leading_jet", "present"), [0, 1, 1, 1]
    )
    np.testing.assert_array_equal(
        _object(transformed, "subleading_jet", "present"), [0, 0, 1, 1]
    )
    for key in features.KINEMATICS:
        assert _object(transformed, "subleading_jet", key)[0] == 0.0
    np.testing.assert_array_equal(
        _indicator(transformed, "DER_mass_jet_jet"), [1, 1, 0, 0]
    )


def test_jet_count_is_one_hot(transformed):
    one_hot = _column(transformed, preprocessing.EVENT_KEY)[:, -4:]
    np.testing.assert_array_equal(one_hot, np.eye(4))


def test_constant_feature_does_not_divide_by_zero(transformed):
    np.testing.assert_array_equal(
        _event_feature(transformed, "DER_pt_h"), [0.0, 0.0, 0.0, 0.0]
    )


def test_phis_are_relative_to_the_tau(transformed):
    # Every phi is 1.0 in these events: every object sits on the tau's azimuth.
    np.testing.assert_allclose(_object(transformed, "met", "cos_phi"), 1.0)
    np.testing.assert_allclose(
        _object(transformed, "lepton", "sin_phi"), 0.0, atol=1e-6
    )
    assert math.isfinite(_column(transformed, preprocessing.OBJECTS_KEY).sum())


def test_label_is_one_for_signal_and_weight_passes_through(transformed):
    np.testing.assert_array_equal(
        _column(transformed, preprocessing.LABEL_KEY), [1, 0, 0, 1]
    )
    np.testing.assert_allclose(
        _column(transformed, preprocessing.WEIGHT_KEY),
        [0.002, 1.5, 2.5, 0.003],
        rtol=1e-6,
    )


def test_collinear_mass_is_undefined_when_every_object_shares_one_azimuth(
    transformed,
):
    # Tau and lepton are collinear in phi, so the missing energy cannot be
    # split between them: flagged, and 0.0 rather than a number.
    np.testing.assert_array_equal(
        _indicator(transformed, "log_mass_collinear"), [1, 1, 1, 1]
    )
    np.testing.assert_array_equal(
        _event_feature(transformed, "log_mass_collinear"), [0.0, 0.0, 0.0, 0.0]
    )
