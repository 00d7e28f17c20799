"""The LSTM and GRU train on a small batch; the strategy chooser picks a device."""

import numpy as np
import pytest
import tensorflow as tf

from models import features, network, preprocessing

BATCH = 64


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, BATCH).astype(np.float32)
    objects = rng.normal(size=(BATCH, preprocessing.OBJECTS_WIDTH)).astype(np.float32)
    event = rng.normal(size=(BATCH, preprocessing.EVENT_WIDTH)).astype(np.float32)
    # One value of the tau carries the label, so training must find it through
    # the recurrent layer or the head.
    objects[:, 0] += 1.5 * labels
    return {
        preprocessing.OBJECTS_KEY: objects,
        preprocessing.EVENT_KEY: event,
    }, labels


@pytest.mark.parametrize("model_type", network.MODEL_TYPES)
def test_a_member_trains_a_few_steps(model_type):
    tf.keras.utils.set_random_seed(0)
    member = network.build_member(
        model_type, units=8, dense_units=16, learning_rate=0.01
    )
    features, labels = _batch()

    before = member.evaluate(features, labels, verbose=0, return_dict=True)["loss"]
    member.fit(features, labels, batch_size=BATCH, epochs=20, verbose=0)
    after = member.evaluate(features, labels, verbose=0, return_dict=True)["loss"]

    assert after < before
    probability = member.predict(features, verbose=0)
    assert probability.shape == (BATCH, 1)
    assert np.all((probability >= 0) & (probability <= 1))
    assert member.get_layer(f"member_{model_type}") is not None


def test_unknown_model_type_is_refused():
    with pytest.raises(ValueError, match="model type must be one of"):
        network.build_model("transformer")


def test_model_reads_the_objects_and_the_event_features():
    assert network.input_names() == [
        preprocessing.OBJECTS_KEY,
        preprocessing.EVENT_KEY,
    ]
    member = network.build_member("gru", units=8, dense_units=8)
    sequence = member.get_layer("member_object_steps").output
    assert tuple(sequence.shape[1:]) == (
        len(features.OBJECTS),
        features.OBJECT_WIDTH,
    )


def test_same_seed_same_model():
    weights = []
    for _ in range(2):
        tf.keras.utils.set_random_seed(3)
        model = network.build_model("lstm", units=8, dense_units=8)
        weights.append(model.get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


def test_model_serves_the_mean_of_its_members():
    model = network.build_model("lstm", members=3, units=8, dense_units=8)
    features, _ = _batch()

    each = np.concatenate(
        [member.predict(features, verbose=0) for member in model.member_networks],
        axis=1,
    )
    assert each.shape == (BATCH, 3)
    # Members start from different weights, so they disagree.
    assert np.ptp(each, axis=1).max() > 1e-3
    np.testing.assert_allclose(
        model.predict(features, verbose=0), each.mean(axis=1, keepdims=True), rtol=1e-6
    )


def test_training_one_member_leaves_the_others_alone():
    model = network.build_model("gru", members=2, units=8, dense_units=8)
    features, labels = _batch()
    first, second = model.member_networks
    first_before = first.get_weights()
    before = [variable.numpy() for variable in second.variables]

    first.fit(features, labels, epochs=2, verbose=0)

    assert any(
        not np.array_equal(now, old)
        for now, old in zip(first.get_weights(), first_before, strict=True)
    )
    for variable, old in zip(second.variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), old)


def test_a_model_needs_a_member():
    with pytest.raises(ValueError, match="at least one member"):
        network.build_model("lstm", members=0)
