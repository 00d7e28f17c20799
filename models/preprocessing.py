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

# Each event-level feature is also given to the model piecewise-linearly over
# this many bins between its quantiles (see _piecewise_linear).
QUANTILE_BINS = 8
# How far the quantile boundaries may be off, as a fraction of the events.
QUANTILE_EPSILON = 0.01

# Widths of the two model inputs, fixed so that every shape is static.
OBJECTS_WIDTH = len(features.OBJECTS) * features.OBJECT_WIDTH
EVENT_WIDTH = (
    len(features.EVENT_SCALARS) * (1 + QUANTILE_BINS)
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


def _piecewise_linear(values: tf.Tensor, present: tf.Tensor) -> tf.Tensor:
    """Where each value falls among its feature's quantiles: [batch, QUANTILE_BINS].

    The present values' range is cut at their quantiles into bins of equal
    counts; component k is 0.0 below bin k, 1.0 above it and rises linearly
    across it. A network reads sharp windows off such an encoding (a mass
    near the Higgs boson's, say) far more easily than off one number, where
    each window costs it two well-placed units. Missing values encode as all
    zeros. The encoding does not depend on the values' scale, so the raw
    feature is quantised rather than its z-score, which would need its
    analysers first.
    """
    weights = tf.cast(present, tf.float32)
    boundaries = tf.reshape(
        tft.quantiles(values, QUANTILE_BINS, QUANTILE_EPSILON, weights=weights),
        [QUANTILE_BINS - 1],
    )
    lowest = tft.min(tf.where(present, values, tf.float32.max))
    highest = tft.max(tf.where(present, values, tf.float32.min))
    edges = tf.concat([[lowest], boundaries, [highest]], axis=0)
    # A heavily repeated value (a feature that is often exactly zero) gives
    # bins of no width: steps, 0.0 at that value and 1.0 above it.
    widths = tf.maximum(edges[1:] - edges[:-1], 1e-6)
    encoded = tf.clip_by_value((values[:, tf.newaxis] - edges[:-1]) / widths, 0.0, 1.0)
    return tf.where(present[:, tf.newaxis], encoded, 0.0)


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
    binned = [
        _piecewise_linear(scalars[name], presence[name])
        for name in features.EVENT_SCALARS
    ]

    outputs = {
        OBJECTS_KEY: features.stack_objects(objects),
        EVENT_KEY: tf.concat(
            [
                tf.stack(scaled, axis=1),
                *binned,
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
