"""A streaming Keras metric for the challenge's AMS, for TensorFlow Model Analysis.

It keeps weighted score histograms per class and reports the best AMS over bin edges.
"""

import tensorflow as tf
import tf_keras

from pipeline import challenge


@tf_keras.utils.register_keras_serializable(package="higgs_tfx")
class AMS(tf_keras.metrics.Metric):
    """The best approximate median significance over score cuts.

    Scores in [0, 1] are binned into `num_bins` equal-width bins, summing the
    event weights of signal and of background per bin. The result scales each
    class's weights to its total in the challenge (as
    `pipeline.scoring.renormalised_weights` does), then, for every bin edge k /
    num_bins, computes the AMS of selecting the events scoring at or above it,
    and returns the largest. Because the state is only two histograms, it can be
    updated batch by batch and merged across workers by summing.
    """

    def __init__(self, num_bins: int = 1000, name: str = "ams", dtype=None, **kwargs):
        """Creates the metric.

        Args:
          num_bins: how many equal-width score bins cover [0, 1]; the cuts tried
            are their lower edges.
          name: the metric's name.
          dtype: the dtype of the result.
          **kwargs: passed on to `tf_keras.metrics.Metric`.
        """
        super().__init__(name=name, dtype=dtype, **kwargs)
        if isinstance(num_bins, bool) or int(num_bins) != num_bins or num_bins < 1:
            raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
        self.num_bins = int(num_bins)
        # float64, because the background total is about 6e5 times the signal
        # total and hundreds of thousands of weights are summed into one bin.
        self.signal_histogram = self.add_weight(
            name="signal_histogram",
            shape=(self.num_bins,),
            initializer="zeros",
            dtype=tf.float64,
        )
        self.background_histogram = self.add_weight(
            name="background_histogram",
            shape=(self.num_bins,),
            initializer="zeros",
            dtype=tf.float64,
        )

    def _lower_edges(self) -> tf.Tensor:
        # k / num_bins by exact division, so that an event lands in bin k exactly
        # when score >= k / num_bins holds in float64, as numpy would judge it.
        return tf.range(self.num_bins, dtype=tf.float64) / self.num_bins

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch of events to the histograms.

        Args:
          y_true: 0/1 labels, 1 for signal, of shape [batch] or [batch, 1].
          y_pred: signal probabilities in [0, 1] (values outside are clipped),
            of the same number of elements as y_true.
          sample_weight: the event weights, of the same number of elements or
            a scalar; every event weighs 1 if None.
        """
        scores = tf.reshape(tf.cast(y_pred, tf.float64), [-1])
        is_signal = tf.reshape(tf.cast(y_true, tf.float64), [-1]) > 0.5
        if sample_weight is None:
            weights = tf.ones_like(scores)
        else:
            weights = tf.broadcast_to(
                tf.reshape(tf.cast(sample_weight, tf.float64), [-1]), tf.shape(scores)
            )
        scores = tf.clip_by_value(scores, 0.0, 1.0)
        bins = tf.searchsorted(self._lower_edges(), scores, side="right") - 1
        zeros = tf.zeros_like(weights)
        self.signal_histogram.assign_add(
            tf.math.unsorted_segment_sum(
                tf.where(is_signal, weights, zeros), bins, self.num_bins
            )
        )
        self.background_histogram.assign_add(
            tf.math.unsorted_segment_sum(
                tf.where(is_signal, zeros, weights), bins, self.num_bins
            )
        )

    def result(self):
        """Returns the largest AMS over the bin-edge cuts (0 if a class is absent)."""
        signal_total = tf.reduce_sum(self.signal_histogram)
        background_total = tf.reduce_sum(self.background_histogram)
        signal_scale = tf.math.divide_no_nan(
            tf.constant(challenge.SIGNAL_WEIGHT_TOTAL, tf.float64), signal_total
        )
        background_scale = tf.math.divide_no_nan(
            tf.constant(challenge.BACKGROUND_WEIGHT_TOTAL, tf.float64),
            background_total,
        )
        # Summed from the top bin down: entry k is what the cut at edge k selects.
        s = tf.cumsum(self.signal_histogram * signal_scale, reverse=True)
        b = tf.cumsum(self.background_histogram * background_scale, reverse=True)
        b = tf.maximum(b, 0.0) + challenge.AMS_B_REG
        s = tf.maximum(s, 0.0)
        radicand = 2.0 * ((s + b) * tf.math.log1p(s / b) - s)
        best = tf.reduce_max(tf.sqrt(tf.maximum(radicand, 0.0)))
        both_classes = tf.logical_and(signal_total > 0, background_total > 0)
        best = tf.where(both_classes, best, tf.zeros_like(best))
        return tf.cast(best, self.dtype)

    def reset_state(self):
        """Empties the histograms."""
        self.signal_histogram.assign(tf.zeros_like(self.signal_histogram))
        self.background_histogram.assign(tf.zeros_like(self.background_histogram))

    def get_config(self):
        """Returns the metric's configuration, including num_bins."""
        return {**super().get_config(), "num_bins": self.num_bins}
