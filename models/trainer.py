"""Trainer's run_fn: trains the classifier on transformed events and exports it.

The exported SavedModel takes raw serialized events (the Transform graph is
inside it) and also carries the score cut that maximises AMS on the eval split.
"""

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx import v1 as tfx

from models import network, preprocessing
from models.strategy import choose_strategy
from pipeline import challenge, scoring

# Keys of the Trainer's custom_config.
MODEL_TYPE_KEY = "model_type"
EPOCHS_KEY = "epochs"
BATCH_SIZE_KEY = "batch_size"
SEED_KEY = "seed"
# Train with the event weights, each class's scaled to half the total, so the
# loss sees the physics mix that AMS scores rather than the sample's.
WEIGHTED_KEY = "weighted"
# How many members the model averages (network.DEFAULT_MEMBERS if absent).
MEMBERS_KEY = "members"
# Epochs without a lower eval loss before training stops.
PATIENCE_KEY = "patience"
# "local" on a TPU VM (Vertex AI's TPU jobs), where a TPU is then required, or
# a TPU's name or grpc:// address; absent, this machine is looked at for one.
TPU_ADDRESS_KEY = "tpu_address"

DEFAULT_BATCH_SIZE = 256  # per replica
DEFAULT_PATIENCE = 10
# Epochs without a lower eval loss before the learning rate is halved, and
# the floor it is halved to.
LEARNING_RATE_PATIENCE = 2
MIN_LEARNING_RATE = 1e-5

# When choosing the cut on the eval split, every candidate's background is
# padded by this many background events of mean weight, so that a cut does not
# win on the luck of selecting no background (see scoring.best_cut).
CUT_PSEUDO_BACKGROUND_EVENTS = 2.0

# Where the exported model keeps its cut, beside the SavedModel's own files.
CUT_FILE = os.path.join("assets.extra", "ams_cut.json")

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PREDICTION_KEY = "probability"


def matching_files(file_pattern: list[str] | str) -> list[str]:
    """The files matching one pattern or several, sorted; raises if there are none."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else file_pattern
    files = sorted(path for pattern in patterns for path in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_pattern}")
    return files


def make_dataset(
    file_pattern: list[str] | str,
    feature_spec: dict[str, tf.io.FixedLenFeature],
    batch_size: int,
    shuffle_seed: int | None = None,
    repeat: bool = False,
    class_scales: tuple[float, float] | None = None,
) -> tf.data.Dataset:
    """Reads transformed tf.Examples as (features, label) batches.

    Every batch has exactly `batch_size` events (the remainder is dropped), so
    shapes are static, as TPUs need. With class_scales (background, signal),
    batches are (features, label, weight times its class's scale).
    """
    files = matching_files(file_pattern)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle_seed is not None:
        dataset = dataset.shuffle(20 * batch_size, seed=shuffle_seed)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)

    inputs = network.input_names()

    def split(serialized):
        parsed = tf.io.parse_example(serialized, feature_spec)
        features = {name: parsed[name] for name in inputs}
        label = parsed[preprocessing.LABEL_KEY]
        if class_scales is None:
            return features, label
        scale = tf.where(label > 0.5, class_scales[1], class_scales[0])
        return features, label, parsed[preprocessing.WEIGHT_KEY] * scale

    return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def class_scales(labels, weights) -> tuple[float, float]:
    """(background, signal) factors that bring each class's weights to half the events.

    The challenge's weights differ by orders of magnitude between the classes;
    balanced, neither class swamps the loss, while within a class each event
    still counts as much as the physics says.
    """
    labels = np.asarray(labels) > 0.5
    weights = np.asarray(weights, dtype=np.float64)
    half = len(labels) / 2.0
    return (
        float(half / weights[~labels].sum()),
        float(half / weights[labels].sum()),
    )


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    epochs: int,
    patience: int = DEFAULT_PATIENCE,
    verbose: int = 2,
) -> keras.callbacks.History:
    """Trains for up to `epochs`, annealing the learning rate on the eval loss.

    The learning rate is halved whenever the eval loss has not fallen for
    LEARNING_RATE_PATIENCE epochs, down to MIN_LEARNING_RATE; training stops
    once it has not fallen for `patience` epochs. The model keeps its final
    weights: by then the rate has been cut several times and the weights have
    settled, whereas the single best epoch on a few thousand eval events is
    largely chance.
    """
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss",
            factor=0.5,
            patience=LEARNING_RATE_PATIENCE,
            min_lr=MIN_LEARNING_RATE,
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
    ]
    return model.fit(
        train,
        epochs=epochs,
        validation_data=validation,
        callbacks=callbacks,
        verbose=verbose,
    )


def _serving_signatures(model, tf_transform_output: tft.TFTransformOutput) -> dict:
    """serving_default scores raw events; transform_features feeds the Evaluator."""
    # Attached to the model so that saving tracks the Transform graph's assets.
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    serving_feature_spec = {
        name: spec
        for name, spec in raw_feature_spec.items()
        if name in challenge.FEATURES
    }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized):
        raw = tf.io.parse_example(serialized, serving_feature_spec)
        transformed = model.tft_layer(raw)
        probability = model({name: transformed[name] for name in network.input_names()})
        return {PREDICTION_KEY: tf.reshape(probability, [-1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        raw = tf.io.parse_example(serialized, raw_feature_spec)
        return model.tft_layer(raw)

    return {
        SERVING_SIGNATURE: serve.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }


def _labels_and_weights(files, feature_spec, batch_size):
    """The label and weight of every event in `files`, in numpy."""
    spec = {
        key: feature_spec[key]
        for key in (preprocessing.LABEL_KEY, preprocessing.WEIGHT_KEY)
    }
    labels, weights = [], []
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size)
    for serialized in dataset:
        parsed = tf.io.parse_example(serialized, spec)
        labels.append(parsed[preprocessing.LABEL_KEY].numpy())
        weights.append(parsed[preprocessing.WEIGHT_KEY].numpy())
    return np.concatenate(labels), np.concatenate(weights)


def _eval_scores(model, files, feature_spec, batch_size):
    """Scores the whole eval split, with labels and weights, in numpy.

    Scores come from `predict`, which runs the model under the strategy it was
    built in (compiled for the TPU on one), and keeps every event in order.
    """
    parsed = (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(batch_size)
        .map(lambda serialized: tf.io.parse_example(serialized, feature_spec))
    )
    inputs = network.input_names()
    features = parsed.map(lambda batch: {name: batch[name] for name in inputs})
    scores = model.predict(features, verbose=0).reshape(-1)
    labels, weights = _labels_and_weights(files, feature_spec, batch_size)
    return scores, labels, weights


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains the LSTM or GRU named in custom_config and exports it for serving."""
    config = fn_args.custom_config or {}
    model_type = config.get(MODEL_TYPE_KEY, "lstm")
    seed = int(config.get(SEED_KEY, 0))
    # Python, numpy and TensorFlow seeds at once, so a run can be repeated.
    keras.utils.set_random_seed(seed)

    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    feature_spec = tf_transform_output.transformed_feature_spec()

    strategy = choose_strategy(config.get(TPU_ADDRESS_KEY))
    global_batch = int(config.get(BATCH_SIZE_KEY, DEFAULT_BATCH_SIZE)) * (
        strategy.num_replicas_in_sync
    )
    with strategy.scope():
        model = network.build_model(
            model_type, int(config.get(MEMBERS_KEY, network.DEFAULT_MEMBERS))
        )
    model.summary(print_fn=logging.info, expand_nested=True)

    train_steps = fn_args.train_steps
    scales = None
    if config.get(WEIGHTED_KEY, False):
        train_labels, train_weights = _labels_and_weights(
            matching_files(fn_args.train_files), feature_spec, 4096
        )
        scales = class_scales(train_labels, train_weights)
    train = make_dataset(
        fn_args.train_files,
        feature_spec,
        global_batch,
        shuffle_seed=seed,
        repeat=bool(train_steps),
        class_scales=scales,
    )
    evaluation = make_dataset(fn_args.eval_files, feature_spec, global_batch)
    if train_steps:
        # A fixed number of steps, as TFX's train_args ask.
        model.fit(train, steps_per_epoch=train_steps, epochs=1, verbose=2)
    else:
        epochs = int(config.get(EPOCHS_KEY, 5))
        patience = int(config.get(PATIENCE_KEY, DEFAULT_PATIENCE))
        fit(model, train, evaluation, epochs, patience)

    scores, labels, weights = _eval_scores(
        model, matching_files(fn_args.eval_files), feature_spec, 4096
    )
    cut, best_ams = scoring.best_cut(
        scores, labels, weights, CUT_PSEUDO_BACKGROUND_EVENTS
    )
    logging.info(
        "%s trained: AMS %.3f on %d eval events at score cut %.4f",
        model_type,
        best_ams,
        len(scores),
        cut,
    )

    signatures = _serving_signatures(model, tf_transform_output)
    # On a TPU the variables live on the TPU workers; the host writes them.
    options = tf.saved_model.SaveOptions(experimental_io_device="/job:localhost")
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures, options=options)
    cut_path = os.path.join(fn_args.serving_model_dir, CUT_FILE)
    tf.io.gfile.makedirs(os.path.dirname(cut_path))
    with tf.io.gfile.GFile(cut_path, "w") as handle:
        json.dump(
            {
                "cut": float(cut),
                "eval_ams": float(best_ams),
                "eval_events": len(scores),
            },
            handle,
        )
    logging.info("Exported %s model to %s", model_type, fn_args.serving_model_dir)


def read_cut(serving_model_dir: str) -> float:
    """The AMS-maximising score cut stored with an exported model."""
    with tf.io.gfile.GFile(os.path.join(serving_model_dir, CUT_FILE)) as handle:
        return float(json.load(handle)["cut"])
