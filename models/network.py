"""The recurrent classifier: an LSTM or a GRU reading an event object by object."""

import tf_keras as keras

from models import features, preprocessing

MODEL_TYPES = ("lstm", "gru")


def input_names() -> list[str]:
    """The transformed features the model reads."""
    return [preprocessing.OBJECTS_KEY, preprocessing.EVENT_KEY]


def build_model(
    model_type: str,
    units: int = 32,
    dense_units: int = 64,
    dropout: float = 0.2,
    weight_decay: float = 1e-4,
    learning_rate: float = 1e-3,
) -> keras.Model:
    """Builds and compiles the classifier; call it inside the strategy's scope.

    The sequence is the event's physics objects (tau, lepton, missing energy,
    leading and subleading jet), one per step, each a vector of its kinematics
    and a one-hot of its type. The recurrent layer's summary of them meets the
    event-level features in a dense head that gives the signal probability.

    Args:
      model_type: "lstm" or "gru".
      units: size of the per-object embedding and of the recurrent state.
      dense_units: width of the dense layers.
      dropout: dropout rate in the head.
      weight_decay: L2 penalty on the dense kernels; the training sets are
        small enough for a network to memorise.
      learning_rate: Adam's initial learning rate.

    Returns:
      A compiled model mapping the transformed features to the signal
      probability, shape [batch, 1].
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model type must be one of {MODEL_TYPES}, not {model_type!r}")
    regulariser = keras.regularizers.L2(weight_decay)

    objects = keras.Input(
        shape=(preprocessing.OBJECTS_WIDTH,), name=preprocessing.OBJECTS_KEY
    )
    event = keras.Input(
        shape=(preprocessing.EVENT_WIDTH,), name=preprocessing.EVENT_KEY
    )

    sequence = keras.layers.Reshape(
        (len(features.OBJECTS), features.OBJECT_WIDTH), name="object_steps"
    )(objects)
    embedded = keras.layers.Dense(
        units,
        activation="relu",
        kernel_regularizer=regulariser,
        name="object_embedding",
    )(sequence)
    recurrent = keras.layers.LSTM if model_type == "lstm" else keras.layers.GRU
    states = recurrent(units, return_sequences=True, name=model_type)(embedded)
    # The last state, plus a max over steps so that an early object (the tau)
    # has a short gradient path too.
    summary = keras.layers.Concatenate(name="object_summary")(
        [
            keras.layers.Lambda(lambda s: s[:, -1, :], name="last_state")(states),
            keras.layers.GlobalMaxPooling1D(name="max_state")(states),
        ]
    )

    hidden = keras.layers.Concatenate(name="event_and_objects")([summary, event])
    for layer in range(2):
        hidden = keras.layers.Dense(
            dense_units,
            activation="relu",
            kernel_regularizer=regulariser,
            name=f"dense_{layer}",
        )(hidden)
        hidden = keras.layers.Dropout(dropout, name=f"dropout_{layer}")(hidden)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(
        hidden
    )

    model = keras.Model(
        inputs={preprocessing.OBJECTS_KEY: objects, preprocessing.EVENT_KEY: event},
        outputs=probability,
        name=f"higgs_{model_type}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy()],
    )
    return model
