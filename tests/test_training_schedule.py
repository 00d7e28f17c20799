"""trainer.fit anneals the learning rate on the eval loss and stops once it stalls."""

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models import network, preprocessing, trainer

EVENTS = 256


def _dataset(seed: int, batch_size: int = 64) -> tf.data.Dataset:
    """Random inputs with random labels: nothing to learn, so the eval loss stalls."""
    rng = np.random.default_rng(seed)
    inputs = {
        preprocessing.OBJECTS_KEY: rng.normal(
            size=(EVENTS, preprocessing.OBJECTS_WIDTH)
        ).astype(np.float32),
        preprocessing.EVENT_KEY: rng.normal(
            size=(EVENTS, preprocessing.EVENT_WIDTH)
        ).astype(np.float32),
    }
    labels = rng.integers(0, 2, size=(EVENTS, 1)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)


def test_fit_halves_the_rate_then_stops_when_the_eval_loss_stalls():
    keras.utils.set_random_seed(0)
    model = network.build_member("gru", units=4, dense_units=8, learning_rate=0.01)
    epochs = 60
    history = trainer.fit(
        model, _dataset(1), _dataset(2), epochs, patience=4, verbose=0
    )

    trained = len(history.history["loss"])
    assert trained < epochs
    rates = history.history["lr"]
    assert rates[0] == np.float32(0.01)
    # Patience outlasts the rate's, so the rate was cut before training stopped.
    assert min(rates) <= 0.01 / 2
    # Rates only ever go down, and never under the floor.
    assert np.all(np.diff(rates) <= 0)
    assert min(rates) >= np.float32(trainer.MIN_LEARNING_RATE)
    # It stopped because the eval loss had not improved for `patience` epochs.
    best = int(np.argmin(history.history["val_loss"]))
    assert trained - 1 - best >= 4
