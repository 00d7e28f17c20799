"""The classifier: LSTM or GRU networks that read an event object by object.

Several such networks (members) are trained side by side and their
probabilities averaged.
"""

import tensorflow as tf
import tf_keras as keras

from models import features, preprocessing

MODEL_TYPES = ("lstm", "gru")


def input_names() -> list[str]:
    """The transformed features the model reads."""
    return [preprocessing.OBJECTS_KEY, preprocessing.EVENT_KEY]


# An average of members is steadier than any one of them, which matters on
# training sets of a few thousand events.
DEFAULT_MEMBERS = 5


class MemberAverage(keras.Model):
    """Averages the signal probabilities of members that each learn on their own.

    While training, calling the model gives every member's probability,
    [batch, members], so the loss (binary cross-entropy, which Keras averages
    over the last axis) is the mean of the members' own losses: no member
    leans on another, and their errors stay independent enough to average
    out. Otherwise, and so when evaluating, predicting or serving, the model
    gives the members' mean probability, [batch, 1], and metrics always see
    that mean.
    """

    def __init__(self, members: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.members = members

    def call(self, inputs, training=None):
        probabilities = self.members(inputs, training=training)
        if training:
            return probabilities
        return tf.reduce_mean(probabilities, axis=-1, keepdims=True)

    def compute_metrics(self, x, y, y_pred, sample_weight):
        mean = tf.reduce_mean(y_pred, axis=-1, keepdims=True)
        return super().compute_metrics(x, y, mean, sample_weight)


def _member(
    model_type: str,
    sequence: tf.Tensor,
    event: tf.Tensor,
    name: str,
    units: int,
    dense_units: int,
    dropout: float,
    regulariser: keras.regularizers.Regularizer,
) -> tf.Tensor:
    """One member's signal probability, [batch, 1], from the shared inputs."""
    embedded = keras.layers.Dense(
        units,
        activation="relu",
        kernel_regularizer=regulariser,
        name=f"{name}_object_embedding",
    )(sequence)
    recurrent = keras.layers.LSTM if model_type == "lstm" else keras.layers.GRU
    states = recurrent(units, return_sequences=True, name=f"{name}_{model_type}")(
        embedded
    )
    # The last state, plus a max over steps so that an early object (the tau)
    # has a short gradient path too.
    summary = keras.layers.Concatenate(name=f"{name}_object_summary")(
        [
            keras.layers.Lambda(lambda s: s[:, -1, :], name=f"{name}_last_state")(
                states
            ),
            keras.layers.GlobalMaxPooling1D(name=f"{name}_max_state")(states),
        ]
    )
    hidden = keras.layers.Concatenate(name=f"{name}_event_and_objects")(
        [summary, event]
    )
    for layer in range(2):
        hidden = keras.layers.Dense(
            dense_units,
            activation="relu",
            kernel_regularizer=regulariser,
            name=f"{name}_dense_{layer}",
        )(hidden)
        hidden = keras.layers.Dropout(dropout, name=f"{name}_dropout_{layer}")(hidden)
    return keras.layers.Dense(1, activation="sigmoid", name=f"{name}_probability")(
        hidden
    )


def build_model(
    model_type: str,
    members: int = DEFAULT_MEMBERS,
    units: int = 32,
    dense_units: int = 64,
    dropout: float = 0.2,
    weight_decay: float = 1e-4,
    learning_rate: float = 1e-3,
) -> MemberAverage:
    """Builds and compiles the classifier; call it inside the strategy's scope.

    The sequence is the event's physics objects (tau, lepton, missing energy,
    leading and subleading jet), one per step, each a vector of its kinematics
    and a one-hot of its type. In each member, a recurrent layer's summary of
    them meets the event-level features in a dense head that gives the signal
    probability; the model's output is the members' mean.

    Args:
      model_type: "lstm" or "gru".
      members: how many independently initialised members to average.
      units: size of the per-object embedding and of the recurrent state.
      dense_units: width of the dense layers.
      dropout: dropout rate in the head.
      weight_decay: L2 penalty on each member's dense kernels; the training
        sets are small enough for a network to memorise.
      learning_rate: Adam's initial learning rate.

    Returns:
      A compiled model mapping the transformed features to the signal
      probability, shape [batch, 1]; its `members` attribute is the
      functional model of every member's probability, [batch, members].
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model type must be one of {MODEL_TYPES}, not {model_type!r}")
    if members < 1:
        raise ValueError(f"a model needs at least one member, not {members}")
    # The loss is the mean of the members' losses, so each member's data
    # gradient is shrunk by the member count; its penalty is shrunk alike to
    # keep the balance between the two that one network alone would have.
    regulariser = keras.regularizers.L2(weight_decay / members)

    objects = keras.Input(
        shape=(preprocessing.OBJECTS_WIDTH,), name=preprocessing.OBJECTS_KEY
    )
    event = keras.Input(
        shape=(preprocessing.EVENT_WIDTH,), name=preprocessing.EVENT_KEY
    )
    sequence = keras.layers.Reshape(
        (len(features.OBJECTS), features.OBJECT_WIDTH), name="object_steps"
    )(objects)
    probabilities = [
        _member(
            model_type,
            sequence,
            event,
            f"member_{index}",
            units,
            dense_units,
            dropout,
            regulariser,
        )
        for index in range(members)
    ]
    stacked = (
        keras.layers.Concatenate(name="member_probabilities")(probabilities)
        if members > 1
        else probabilities[0]
    )
    inputs = {preprocessing.OBJECTS_KEY: objects, preprocessing.EVENT_KEY: event}
    model = MemberAverage(
        keras.Model(inputs=inputs, outputs=stacked, name="members"),
        name=f"higgs_{model_type}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy()],
    )
    # Called once on the inputs' shapes, so that the weights exist now (for
    # summaries, seeding checks and strategies) rather than at the first batch.
    model(inputs)
    return model
