"""The classifier: LSTM or GRU networks that read an event object by object.

Several such networks (members), each trained on its own, are averaged.
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
    """The mean signal probability of member networks, [batch, 1].

    The members are complete compiled models of their own
    (`member_networks`), so each can be trained on its own events with its
    own early stopping (see trainer.cross_fit); this model only averages
    them, for evaluating, predicting and serving.
    """

    def __init__(self, member_networks: list[keras.Model], **kwargs):
        super().__init__(**kwargs)
        self.member_networks = list(member_networks)

    def probabilities(self, inputs, training=None) -> tf.Tensor:
        """Every member's probability, [batch, members]."""
        return tf.concat(
            [member(inputs, training=training) for member in self.member_networks],
            axis=-1,
        )

    def call(self, inputs, training=None):
        return tf.reduce_mean(
            self.probabilities(inputs, training), axis=-1, keepdims=True
        )


def _inputs() -> dict[str, tf.Tensor]:
    return {
        preprocessing.OBJECTS_KEY: keras.Input(
            shape=(preprocessing.OBJECTS_WIDTH,), name=preprocessing.OBJECTS_KEY
        ),
        preprocessing.EVENT_KEY: keras.Input(
            shape=(preprocessing.EVENT_WIDTH,), name=preprocessing.EVENT_KEY
        ),
    }


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy()],
    )


def build_member(
    model_type: str,
    name: str = "member",
    units: int = 32,
    dense_units: int = 64,
    dropout: float = 0.2,
    weight_decay: float = 1e-4,
    learning_rate: float = 1e-3,
) -> keras.Model:
    """One compiled member network: transformed features in, probability [batch, 1] out.

    The sequence is the event's physics objects (tau, lepton, missing energy,
    leading and subleading jet), one per step, each a vector of its kinematics
    and a one-hot of its type. A recurrent layer's summary of them meets the
    event-level features in a dense head that gives the signal probability.
    Call it inside the strategy's scope.

    Args:
      model_type: "lstm" or "gru".
      name: the model's name, also the prefix of its layers' names.
      units: size of the per-object embedding and of the recurrent state.
      dense_units: width of the dense layers.
      dropout: dropout rate in the head.
      weight_decay: L2 penalty on the dense kernels; the training sets are
        small enough for a network to memorise.
      learning_rate: Adam's initial learning rate.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model type must be one of {MODEL_TYPES}, not {model_type!r}")
    regulariser = keras.regularizers.L2(weight_decay)
    inputs = _inputs()
    sequence = keras.layers.Reshape(
        (len(features.OBJECTS), features.OBJECT_WIDTH), name=f"{name}_object_steps"
    )(inputs[preprocessing.OBJECTS_KEY])
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
        [summary, inputs[preprocessing.EVENT_KEY]]
    )
    for layer in range(2):
        hidden = keras.layers.Dense(
            dense_units,
            activation="relu",
            kernel_regularizer=regulariser,
            name=f"{name}_dense_{layer}",
        )(hidden)
        hidden = keras.layers.Dropout(dropout, name=f"{name}_dropout_{layer}")(hidden)
    probability = keras.layers.Dense(
        1, activation="sigmoid", name=f"{name}_probability"
    )(hidden)
    model = keras.Model(inputs=inputs, outputs=probability, name=name)
    _compile(model, learning_rate)
    return model


def build_model(
    model_type: str, members: int = DEFAULT_MEMBERS, **member_options
) -> MemberAverage:
    """Builds `members` member networks and the model that averages them.

    Call it inside the strategy's scope. The members start from different
    random weights; train each through `model.member_networks` (see
    trainer.cross_fit). The average is compiled too, so that it can be
    evaluated.

    Args:
      model_type: "lstm" or "gru".
      members: how many member networks to average.
      **member_options: build_member's size and training options.
    """
    if members < 1:
        raise ValueError(f"a model needs at least one member, not {members}")
    networks = [
        build_member(model_type, f"member_{index}", **member_options)
        for index in range(members)
    ]
    model = MemberAverage(networks, name=f"higgs_{model_type}")
    _compile(model, member_options.get("learning_rate", 1e-3))
    # Called once on the inputs' shapes, so that the weights exist now (for
    # summaries, seeding checks and strategies) rather than at the first batch.
    model(_inputs())
    return model
