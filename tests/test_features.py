"""The feature maths of models/features.py, checked on hand-made events."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models import features
from pipeline import challenge

MISSING = challenge.MISSING_VALUE


def _events(**overrides):
    """Two events: a typical one with one jet, and one with every jet missing."""
    event = {name: [1.0, 1.0] for name in challenge.FEATURES}
    event.update(
        {
            "PRI_tau_pt": [40.0, 30.0],
            "PRI_tau_eta": [1.0, -0.5],
            "PRI_tau_phi": [3.0, 0.0],
            "PRI_lep_pt": [20.0, 25.0],
            "PRI_lep_eta": [-0.5, 1.5],
            "PRI_lep_phi": [-3.0, -1.0],
            "PRI_met": [30.0, 10.0],
            "PRI_met_phi": [0.0, 2.0],
            "PRI_jet_num": [1.0, 0.0],
            "PRI_jet_leading_pt": [50.0, MISSING],
            "PRI_jet_leading_eta": [2.0, MISSING],
            "PRI_jet_leading_phi": [3.0 - math.pi / 2, MISSING],
            "PRI_jet_subleading_pt": [MISSING, MISSING],
            "PRI_jet_subleading_eta": [MISSING, MISSING],
            "PRI_jet_subleading_phi": [MISSING, MISSING],
            "DER_mass_MMC": [120.0, MISSING],
        }
    )
    event.update(overrides)
    return {name: tf.constant(values, tf.float32) for name, values in event.items()}


def test_missing_values_are_found():
    found = features.is_present(tf.constant([1.0, MISSING, 0.0, -1.0]))
    np.testing.assert_array_equal(found.numpy(), [True, False, True, True])


def test_log_scale_of_present_values_and_zero_for_missing():
    scaled = features.log_scale(tf.constant([0.0, math.e - 1.0, MISSING, 99.0]))
    np.testing.assert_allclose(scaled.numpy(), [0.0, 1.0, 0.0, math.log(100.0)])


@pytest.mark.parametrize(
    "angle, wrapped",
    [
        (0.0, 0.0),
        (math.pi / 2, math.pi / 2),
        (1.5 * math.pi, -math.pi / 2),
        (-1.5 * math.pi, math.pi / 2),
        (6.0, 6.0 - 2 * math.pi),
    ],
)
def test_angles_are_wrapped_into_one_turn(angle, wrapped):
    assert features.wrap_angle(tf.constant(angle)).numpy() == pytest.approx(
        wrapped, abs=1e-5
    )


def test_events_are_mirrored_to_put_tau_forward_and_lepton_above_it():
    eta_sign, phi_sign = features.orientation(_events())
    # Event 0: tau eta 1.0 >= 0; lepton at -3 - 3 = -6, wrapped +0.28 >= 0.
    # Event 1: tau eta -0.5 < 0; lepton at -1 relative to the tau.
    np.testing.assert_array_equal(eta_sign.numpy(), [1.0, -1.0])
    np.testing.assert_array_equal(phi_sign.numpy(), [1.0, -1.0])


def test_object_kinematics_are_relative_to_the_tau():
    objects = features.object_kinematics(_events())

    tau = objects["tau"]
    np.testing.assert_allclose(tau["log_pt"].numpy(), np.log1p([40.0, 30.0]))
    np.testing.assert_allclose(tau["eta"].numpy(), [1.0, 0.5])
    np.testing.assert_allclose(tau["sin_phi"].numpy(), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(tau["cos_phi"].numpy(), [1.0, 1.0])

    lepton = objects["lepton"]
    lepton_phi = [-6.0 + 2 * math.pi, 1.0]  # the second event mirrored in phi
    np.testing.assert_allclose(lepton["eta"].numpy(), [-0.5, -1.5])
    np.testing.assert_allclose(lepton["sin_phi"].numpy(), np.sin(lepton_phi), atol=1e-5)
    np.testing.assert_allclose(lepton["cos_phi"].numpy(), np.cos(lepton_phi), atol=1e-5)

    met = objects["met"]
    np.testing.assert_allclose(met["eta"].numpy(), [0.0, 0.0])
    np.testing.assert_allclose(met["cos_phi"].numpy(), np.cos([-3.0, 2.0]), atol=1e-5)
    np.testing.assert_allclose(
        met["sin_phi"].numpy(), [math.sin(-3.0), -math.sin(2.0)], atol=1e-5
    )


def test_missing_jets_are_zeros_with_a_presence_flag():
    objects = features.object_kinematics(_events())
    leading, subleading = objects["leading_jet"], objects["subleading_jet"]

    np.testing.assert_array_equal(leading["present"].numpy(), [1.0, 0.0])
    np.testing.assert_allclose(leading["log_pt"].numpy(), [math.log(51.0), 0.0])
    np.testing.assert_allclose(leading["eta"].numpy(), [2.0, 0.0])
    np.testing.assert_allclose(leading["sin_phi"].numpy(), [-1.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(leading["cos_phi"].numpy(), [0.0, 0.0], atol=1e-5)
    for key in features.KINEMATICS:
        np.testing.assert_array_equal(subleading[key].numpy(), [0.0, 0.0])


def test_a_rotated_or_mirrored_event_gives_the_same_objects():
    raw = _events()
    turned = dict(raw)
    for name in ("PRI_tau_phi", "PRI_lep_phi", "PRI_met_phi", "PRI_jet_leading_phi"):
        present = features.is_present(raw[name])
        # A rotation by 1 rad and a reflection phi -> -phi, eta -> -eta.
        turned[name] = tf.where(present, features.wrap_angle(-raw[name] + 1.0), MISSING)
    for name in ("PRI_tau_eta", "PRI_lep_eta", "PRI_jet_leading_eta"):
        turned[name] = tf.where(features.is_present(raw[name]), -raw[name], MISSING)

    before = features.stack_objects(features.object_kinematics(raw))
    after = features.stack_objects(features.object_kinematics(turned))
    np.testing.assert_allclose(after.numpy(), before.numpy(), atol=1e-5)


def test_objects_are_stacked_in_slots_with_a_type_one_hot():
    stacked = features.stack_objects(features.object_kinematics(_events())).numpy()
    width = features.OBJECT_WIDTH
    assert stacked.shape == (2, len(features.OBJECTS) * width)

    slots = stacked.reshape(2, len(features.OBJECTS), width)
    one_hots = slots[:, :, len(features.KINEMATICS) :]
    for event in range(2):
        np.testing.assert_array_equal(one_hots[event], np.eye(len(features.OBJECTS)))
    present = features.KINEMATICS.index("present")
    np.testing.assert_array_equal(
        slots[:, :, present], [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]
    )


def test_transverse_mass():
    mass = features.transverse_mass(
        tf.constant([10.0, 10.0]),
        tf.constant([0.0, 0.0]),
        tf.constant([10.0, 10.0]),
        tf.constant([math.pi, 0.0]),
    )
    # Back to back: sqrt(2 * 10 * 10 * 2) = 20; aligned: 0.
    np.testing.assert_allclose(mass.numpy(), [20.0, 0.0], atol=1e-4)


def test_event_scalars_log_the_masses_and_zero_the_missing():
    scalars = features.event_scalars(_events())
    assert set(scalars) == set(features.EVENT_SCALARS)
    np.testing.assert_allclose(
        scalars["DER_mass_MMC"].numpy(), [math.log(121.0), 0.0], rtol=1e-6
    )
    np.testing.assert_allclose(
        scalars["DER_deltar_tau_lep"].numpy(), [1.0, 1.0], rtol=1e-6
    )
    np.testing.assert_allclose(
        scalars["delta_eta_tau_lep"].numpy(), [1.5, 2.0], rtol=1e-6
    )
    mt = [
        math.sqrt(2 * 40 * 30 * (1 - math.cos(3.0))),
        math.sqrt(2 * 30 * 10 * (1 - math.cos(2.0))),
    ]
    np.testing.assert_allclose(
        scalars["log_mt_tau_met"].numpy(), np.log1p(mt), rtol=1e-5
    )


def test_missing_indicators_and_jet_count():
    raw = _events(DER_mass_jet_jet=[MISSING, 300.0])
    indicators = features.missing_indicators(features.event_presence(raw)).numpy()
    column = features.MAY_BE_MISSING.index
    assert indicators.shape == (2, len(features.MAY_BE_MISSING))
    np.testing.assert_array_equal(indicators[:, column("DER_mass_MMC")], [0.0, 1.0])
    np.testing.assert_array_equal(indicators[:, column("DER_mass_jet_jet")], [1.0, 0.0])

    one_hot = features.jet_count_one_hot(tf.constant([0.0, 3.0, 2.0, 1.0]))
    np.testing.assert_array_equal(one_hot.numpy(), np.eye(4)[[0, 3, 2, 1]])


def test_invariant_mass_of_massless_pairs():
    mass = features.invariant_mass(
        tf.constant([10.0, 10.0, 1.0]),
        tf.constant([0.0, 0.5, 1.0]),
        tf.constant([0.0, 1.0, 0.0]),
        tf.constant([10.0, 10.0, 1.0]),
        tf.constant([0.0, 0.5, -1.0]),
        tf.constant([math.pi, 1.0, 0.0]),
    )
    # Back to back in the transverse plane; collinear; split only in eta.
    expected = [20.0, 0.0, math.sqrt(2.0 * (math.cosh(2.0) - 1.0))]
    np.testing.assert_allclose(mass.numpy(), expected, atol=1e-3)


def _collinear_events():
    """Tau along x and lepton along y, with three kinds of missing energy."""
    met_x = np.array([10.0, -10.0, 10.0])
    met_y = np.array([20.0, 5.0, 20.0])
    event = {name: [1.0, 1.0, 1.0] for name in challenge.FEATURES}
    event.update(
        {
            "PRI_tau_pt": [40.0, 40.0, 40.0],
            "PRI_tau_phi": [0.0, 0.0, 0.0],
            "PRI_lep_pt": [20.0, 20.0, 20.0],
            # The third lepton is back to back with the tau.
            "PRI_lep_phi": [math.pi / 2, math.pi / 2, math.pi],
            "PRI_met": list(np.hypot(met_x, met_y)),
            "PRI_met_phi": list(np.arctan2(met_y, met_x)),
            "DER_mass_vis": [60.0, 60.0, 60.0],
        }
    )
    return {name: tf.constant(values, tf.float32) for name, values in event.items()}


def test_collinear_mass_splits_the_missing_energy_along_tau_and_lepton():
    raw = _collinear_events()
    mass, defined = features.collinear_mass(raw)
    # Event 0: neutrinos of 10 along the tau and 20 along the lepton, so the
    # visible fractions are 40/50 and 20/40. Event 1: the neutrino along the
    # tau would point backwards. Event 2: tau and lepton back to back.
    np.testing.assert_array_equal(defined.numpy(), [True, False, False])
    np.testing.assert_allclose(
        mass.numpy(), [60.0 / math.sqrt(0.8 * 0.5), 0.0, 0.0], rtol=1e-5
    )

    scalars = features.event_scalars(raw)
    np.testing.assert_allclose(
        scalars["log_mass_collinear"].numpy(),
        [math.log1p(60.0 / math.sqrt(0.4)), 0.0, 0.0],
        rtol=1e-5,
    )
    indicators = features.missing_indicators(features.event_presence(raw)).numpy()
    column = features.MAY_BE_MISSING.index("log_mass_collinear")
    np.testing.assert_array_equal(indicators[:, column], [0.0, 1.0, 1.0])


def test_masses_with_the_leading_jet_only_where_there_is_one():
    raw = _events()
    scalars = features.event_scalars(raw)
    presence = features.event_presence(raw)
    # Event 0: tau (40, eta 1, phi 3) and lepton (20, eta -0.5, phi -3) with a
    # jet of 50 at eta 2, phi 3 - pi/2. Event 1 has no jet.
    jet_phi = 3.0 - math.pi / 2
    tau_jet = math.sqrt(2 * 40 * 50 * (math.cosh(1.0 - 2.0) - math.cos(3.0 - jet_phi)))
    lep_jet = math.sqrt(
        2 * 20 * 50 * (math.cosh(-0.5 - 2.0) - math.cos(-3.0 - jet_phi))
    )
    np.testing.assert_allclose(
        scalars["log_mass_tau_jet"].numpy(), [math.log1p(tau_jet), 0.0], rtol=1e-5
    )
    np.testing.assert_allclose(
        scalars["log_mass_lep_jet"].numpy(), [math.log1p(lep_jet), 0.0], rtol=1e-5
    )
    for name in ("log_mass_tau_jet", "log_mass_lep_jet"):
        np.testing.assert_array_equal(presence[name].numpy(), [True, False])


def test_missing_energy_significance():
    raw = _events(PRI_met=[30.0, 0.0], PRI_met_sumet=[900.0, 400.0])
    scalars = features.event_scalars(raw)
    np.testing.assert_allclose(
        scalars["log_met_significance"].numpy(), [math.log(2.0), 0.0], rtol=1e-6
    )


def test_presence_of_raw_features_follows_the_missing_value():
    presence = features.event_presence(_events())
    assert set(presence) == set(features.EVENT_SCALARS)
    np.testing.assert_array_equal(presence["DER_mass_MMC"].numpy(), [True, False])
    np.testing.assert_array_equal(presence["DER_mass_vis"].numpy(), [True, True])
