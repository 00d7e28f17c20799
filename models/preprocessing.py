"""Transform's preprocessing_fn: challenge events in, normalised model inputs out.

The same graph runs when training and inside the served model, so a raw event
is turned into model inputs one way only.
"""

import tensorflow as tf
import tensorflow_transform as tft

from pipeline import challenge

# Names of the transformed features the model and the evaluation read.
LABEL_KEY = "label"
WEIGHT_KEY = "weight"


def value_key(feature: str) -> str:
    """The transformed, normalised value of a raw feature."""
    return f"{feature}_xf"


def missing_key(feature: str) -> str:
    """1.0 where the raw feature was undefined (-999.0) for the event, else 0.0."""
    return f"{feature}_missing"


def _scale_present_values(values: tf.Tensor, present: tf.Tensor) -> tf.Tensor:
    """Z-scores `values` with the mean and spread of the present ones only.

    A -999.0 is not a measurement, so it must not pull the mean and variance;
    missing entries come out as 0.0, the mean, and their indicator tells the
    model they were missing.
    """
    present_float = tf.cast(present, tf.float32)
    count = tf.maximum(tft.sum(present_float, reduce_instance_dims=True), 1.0)
    mean = tft.sum(tf.where(present, values, 0.0)) / count
    centred = tf.where(present, values - mean, 0.0)
    variance = tft.sum(tf.square(centred)) / count
    spread = tf.where(variance > 0.0, tf.sqrt(variance), 1.0)
    return centred / spread


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Normalises every feature, with -999.0 read as missing rather than as a number.

    Args:
      inputs: raw features as parsed from the ExampleGen's tf.Examples, each of
        shape [batch, 1]; Label and Weight are absent at serving time.

    Returns:
      For each of the 30 features its normalised value and a missing-value
      indicator, each of shape [batch]; and, when the event is labelled, the
      label (1.0 for signal) and the event weight.
    """
    outputs = {}
    for feature in challenge.FEATURES:
        values = tf.cast(tf.squeeze(inputs[feature], axis=1), tf.float32)
        present = tf.not_equal(values, challenge.MISSING_VALUE)
        outputs[value_key(feature)] = _scale_present_values(values, present)
        outputs[missing_key(feature)] = 1.0 - tf.cast(present, tf.float32)

    # Serving events carry neither; TFT drops these outputs when their inputs
    # are absent, so the served graph needs no label.
    if challenge.LABEL in inputs:
        label = tf.squeeze(inputs[challenge.LABEL], axis=1)
        outputs[LABEL_KEY] = tf.cast(
            tf.equal(label, challenge.SIGNAL_LABEL), tf.float32
        )
    if challenge.WEIGHT in inputs:
        outputs[WEIGHT_KEY] = tf.squeeze(inputs[challenge.WEIGHT], axis=1)
    return outputs
