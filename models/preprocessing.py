"""Transform's preprocessing_fn: challenge events in, the model's inputs out.

The same graph runs when training and inside the served model, so a raw event
is turned into model inputs one way only.
"""

import tensorflow as tf
import tensorflow_transform as tft

from models import features
from pipeline import challenge

# Names of the transformed features the model and the evaluation read.
OBJECTS_KEY = "objects"
EVENT_KEY = "event"
LABEL_KEY = "label"
WEIGHT_KEY = "weight"
# Passed through untouched: training assigns events to members by it.
EVENT_ID_KEY = "event_id"

# Widths of the two model inputs, fixed so that every shape is static.
OBJECTS_WIDTH = len(features.OBJECTS) * features.OBJECT_WIDTH
EVENT_WIDTH = (
    len(features.EVENT_SCALARS)
    + len(features.MAY_BE_MISSING)
    + challenge.MAX_JET_COUNT
    + 1
)


def _scale_present_values(values: tf.Tensor, present: tf.Tensor) -> tf.Tensor:
    """Z-scores `values` with the mean and spread of the present ones only.

    A missing value is not a measurement, so it must not pull the mean and
    variance; missing entries come out as 0.0, the mean, and an indicator
    elsewhere tells the model they were missing.
    """
    present_float = tf.cast(present, tf.float32)
    count = tf.maximum(tft.sum(present_float, reduce_instance_dims=True), 1.0)
    mean = tft.sum(tf.where(present, values, 0.0)) / count
    centred = tf.where(present, values - mean, 0.0)
    variance = tft.sum(tf.square(centred)) / count
    spread = tf.where(variance > 0.0, tf.sqrt(variance), 1.0)
    return centred / spread


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Turns raw events into the objects sequence and the event-level features.

    Args:
      inputs: raw features as parsed from the ExampleGen's tf.Examples, each of
        shape [batch, 1]; Label and Weight are absent at serving time.

    Returns:
      OBJECTS_KEY, [batch, OBJECTS_WIDTH]: per object (tau, lepton, missing
      energy, two jets) its scaled log pt and eta, its phi relative to the tau,
      a presence flag and a type one-hot (see features.stack_objects).
      EVENT_KEY, [batch, EVENT_WIDTH]: the scaled event-level features, the
      missing-value indicators and the jet count as a one-hot.
      And, when the event carries them, the label (1.0 for signal), the
      weight and the EventId.
    """
    raw = {
        name: tf.cast(tf.squeeze(inputs[name], axis=1), tf.float32)
        for name in challenge.FEATURES
    }

    objects = features.object_kinematics(raw)
    for kinematics in objects.values():
        present = kinematics["present"] > 0.0
        for key in ("log_pt", "eta"):
            kinematics[key] = _scale_present_values(kinematics[key], present)

    scalars = features.event_scalars(raw)
    presence = features.event_presence(raw)
    scaled = [
        _scale_present_values(scalars[name], presence[name])
        for name in features.EVENT_SCALARS
    ]

    outputs = {
        OBJECTS_KEY: features.stack_objects(objects),
        EVENT_KEY: tf.concat(
            [
                tf.stack(scaled, axis=1),
                features.missing_indicators(presence),
                features.jet_count_one_hot(raw[challenge.JET_COUNT]),
            ],
            axis=1,
        ),
    }

    # Serving events carry none of these; TFT drops these outputs when their inputs
    # are absent, so the served graph needs no label.
    if challenge.LABEL in inputs:
        label = tf.squeeze(inputs[challenge.LABEL], axis=1)
        outputs[LABEL_KEY] = tf.cast(
            tf.equal(label, challenge.SIGNAL_LABEL), tf.float32
        )
    if challenge.WEIGHT in inputs:
        outputs[WEIGHT_KEY] = tf.squeeze(inputs[challenge.WEIGHT], axis=1)
    if challenge.EVENT_ID in inputs:
        outputs[EVENT_ID_KEY] = tf.squeeze(inputs[challenge.EVENT_ID], axis=1)
    return outputs
