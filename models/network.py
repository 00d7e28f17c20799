"""The recurrent classifier: an LSTM or a GRU reading an event feature by feature."""

import tensorflow as tf
import tf_keras as keras

from models import preprocessing
from pipeline import challenge

MODEL_TYPES = ("lstm", "gru")


def input_names() -> list[str]:
    """The transformed features the model reads, in the order it reads them."""
    return [
        key
        for feature in challenge.FEATURES
        for key in (
            preprocessing.value_key(feature),
            preprocessing.missing_key(feature),
        )
    ]


def build_model(
    model_type: str,
    units: int = 64,
    embedding_size: int = 8,
    dense_units: int = 64,
    dropout: float = 0.1,
    learning_rate: float = 2e-3,
) -> keras.Model:
    """Builds and compiles the classifier; call it inside the strategy's scope.

    Each of the 30 features is one step of the sequence. A step carries the
    feature's normalised value, its missing-value indicator and a learned
    embedding of which feature it is, so the recurrent layer knows what it is
    looking at rather than seeing 30 anonymous numbers.

    Args:
      model_type: "lstm" or "gru".
      units: size of the recurrent layer's state.
      embedding_size: size of the learned feature-identity vector.
      dense_units: width of the dense layer after the recurrent one.
      dropout: dropout rate before the output.
      learning_rate: Adam's learning rate.

    Returns:
      A compiled model mapping the transformed features (each of shape
      [batch]) to the signal probability, shape [batch, 1].
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model type must be one of {MODEL_TYPES}, not {model_type!r}")

    inputs = {
        name: keras.Input(shape=(), name=name, dtype=tf.float32)
        for name in input_names()
    }
    n_steps = len(challenge.FEATURES)
    values = keras.layers.Lambda(lambda xs: tf.stack(xs, axis=1), name="values")(
        [inputs[preprocessing.value_key(f)] for f in challenge.FEATURES]
    )
    missing = keras.layers.Lambda(lambda xs: tf.stack(xs, axis=1), name="missing")(
        [inputs[preprocessing.missing_key(f)] for f in challenge.FEATURES]
    )
    steps = keras.layers.Lambda(
        lambda pair: tf.stack(pair, axis=2), name="value_and_missing"
    )([values, missing])
    identity = keras.layers.Embedding(n_steps, embedding_size, name="feature_identity")(
        keras.layers.Lambda(
            lambda v: tf.broadcast_to(tf.range(n_steps), tf.shape(v)), name="positions"
        )(values)
    )
    sequence = keras.layers.Concatenate(axis=2, name="steps")([steps, identity])

    recurrent = keras.layers.LSTM if model_type == "lstm" else keras.layers.GRU
    states = recurrent(units, return_sequences=True, name=model_type)(sequence)
    # Pooling over every step, beside the last state, gives each feature a
    # short gradient path; the last state alone trains far more slowly.
    hidden = keras.layers.Concatenate(name="summary")(
        [
            keras.layers.Lambda(lambda s: s[:, -1, :], name="last_state")(states),
            keras.layers.GlobalAveragePooling1D(name="mean_state")(states),
            keras.layers.GlobalMaxPooling1D(name="max_state")(states),
        ]
    )
    hidden = keras.layers.Dense(dense_units, activation="relu", name="dense")(hidden)
    hidden = keras.layers.Dropout(dropout, name="dropout")(hidden)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(
        hidden
    )

    model = keras.Model(inputs=inputs, outputs=probability, name=f"higgs_{model_type}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy()],
    )
    return model
