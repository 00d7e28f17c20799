"""The LSTM and GRU train on a small batch; the strategy chooser picks a device."""

import numpy as np
import pytest
import tensorflow as tf

from models import network, strategy

BATCH = 64


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, BATCH).astype(np.float32)
    features = {}
    for name in network.input_names():
        if name.endswith("_missing"):
            features[name] = (rng.random(BATCH) < 0.2).astype(np.float32)
        else:
            # One feature carries the label, so a few steps must lower the loss.
            shift = 1.5 * labels if name == "DER_mass_MMC_xf" else 0.0
            features[name] = (rng.normal(size=BATCH) + shift).astype(np.float32)
    return features, labels


@pytest.mark.parametrize("model_type", network.MODEL_TYPES)
def test_model_trains_a_few_steps(model_type):
    tf.keras.utils.set_random_seed(0)
    model = network.build_model(
        model_type, units=16, dense_units=16, learning_rate=0.01
    )
    features, labels = _batch()

    before = model.evaluate(features, labels, verbose=0, return_dict=True)["loss"]
    model.fit(features, labels, batch_size=BATCH, epochs=20, verbose=0)
    after = model.evaluate(features, labels, verbose=0, return_dict=True)["loss"]

    assert after < before
    probability = model.predict(features, verbose=0)
    assert probability.shape == (BATCH, 1)
    assert np.all((probability >= 0) & (probability <= 1))
    assert model.get_layer(model_type) is not None


def test_unknown_model_type_is_refused():
    with pytest.raises(ValueError, match="model type must be one of"):
        network.build_model("transformer")


def test_model_reads_every_feature_value_and_missing_flag():
    names = network.input_names()
    assert len(names) == 60
    assert names[:2] == ["DER_mass_MMC_xf", "DER_mass_MMC_missing"]


def test_strategy_on_this_machine_is_the_default_one():
    chosen = strategy.choose_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        assert isinstance(chosen, tf.distribute.MirroredStrategy)
    else:
        assert chosen is tf.distribute.get_strategy()
        assert chosen.num_replicas_in_sync == 1


def test_no_tpu_found_falls_back_without_asking_a_server():
    asked = []

    def finder(address):
        asked.append(address)
        return None

    chosen = strategy.choose_strategy("my-tpu", tpu_finder=finder)
    assert asked == ["my-tpu"]
    assert not isinstance(chosen, tf.distribute.TPUStrategy)


def test_no_tpu_named_or_attached_means_no_resolver(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr(strategy.glob, "glob", lambda pattern: [])
    assert strategy.find_tpu(None) is None
