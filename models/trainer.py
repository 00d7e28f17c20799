"""Trainer's run_fn: trains the classifier on transformed events and exports it.

Training is cross-fitted over the train split: a hash of its EventId holds
every event out of one member. Each member learns from the rest, and its
learning-rate schedule and early stopping watch its held-out events; the AMS
cut is chosen on the out-of-fold scores (each event scored by the member held
out from it), and the eval split stays unseen until the Evaluator. The
exported SavedModel takes raw serialized events (the Transform graph is
inside it) and carries that cut as the share of events it selects.
"""

import dataclasses
import json
import os
from collections.abc import Callable

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
# How many members the model averages (network.DEFAULT_MEMBERS if absent);
# each is held out from its own 1/members of the train split.
MEMBERS_KEY = "members"
# Epochs without a lower out-of-fold loss before training stops.
PATIENCE_KEY = "patience"
# "local" on a TPU VM (Vertex AI's TPU jobs), where a TPU is then required, or
# a TPU's name or grpc:// address; absent, this machine is looked at for one.
TPU_ADDRESS_KEY = "tpu_address"

# Per replica. Small batches give the few thousand events of a real sample
# enough updates per epoch; on a TPU the global batch is this times the cores.
DEFAULT_BATCH_SIZE = 64
# An upper bound: early stopping usually ends training well before it.
DEFAULT_EPOCHS = 60
DEFAULT_PATIENCE = 10
# Epochs without a lower out-of-fold loss before the learning rate is halved,
# and the floor it is halved to.
LEARNING_RATE_PATIENCE = 2
MIN_LEARNING_RATE = 1e-5

# Where the exported model keeps its selection, beside the SavedModel's own
# files.
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


def held_out_members(event_ids: tf.Tensor, members: int) -> tf.Tensor:
    """The member each event is held out from: a hash of its EventId, 0 to members-1.

    A hash rather than the position in a file, so that an event is held out
    from the same member however the events are read or shuffled.
    """
    return tf.strings.to_hash_bucket_fast(tf.strings.as_string(event_ids), members)


@dataclasses.dataclass(frozen=True)
class Fold:
    """One member's part of the train split when cross-fitting.

    `held_out` False: the events member `member` (of `members`) learns from;
    True: the events held out from it, on which it is stopped and scored.
    """

    member: int
    members: int
    held_out: bool = False

    def keeps(self, event_ids: tf.Tensor) -> tf.Tensor:
        """Whether each event belongs to this part."""
        is_held_out = tf.equal(held_out_members(event_ids, self.members), self.member)
        return is_held_out if self.held_out else tf.logical_not(is_held_out)


def make_dataset(
    file_pattern: list[str] | str,
    feature_spec: dict[str, tf.io.FixedLenFeature],
    batch_size: int,
    shuffle_seed: int | None = None,
    repeat: bool = False,
    class_scales: tuple[float, float] | None = None,
    fold: Fold | None = None,
) -> tf.data.Dataset:
    """Reads transformed tf.Examples as (features, label) batches.

    Every batch has exactly `batch_size` events (the remainder is dropped), so
    shapes are static, as TPUs need. With a fold, only that fold's events are
    read. With class_scales (background, signal), batches are (features,
    label, weight times its class's scale).
    """
    files = matching_files(file_pattern)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if fold is not None:
        event_id_spec = {
            preprocessing.EVENT_ID_KEY: feature_spec[preprocessing.EVENT_ID_KEY]
        }
        dataset = dataset.filter(
            lambda serialized: fold.keeps(
                tf.io.parse_single_example(serialized, event_id_spec)[
                    preprocessing.EVENT_ID_KEY
                ]
            )
        )
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
    """Trains for up to `epochs`, annealing the learning rate on the `validation` loss.

    With cross-fitting, `validation` is the training events themselves, each
    scored by its held-out member. The learning rate is halved whenever that
    loss has not fallen for LEARNING_RATE_PATIENCE epochs, down to
    MIN_LEARNING_RATE; training stops once it has not fallen for `patience`
    epochs. The model keeps its final weights: by then the rate has been cut
    several times and the weights have settled, whereas the single best epoch
    is largely chance.
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


def cross_fit(
    model: network.MemberAverage,
    fold_datasets: Callable[[int], tuple[tf.data.Dataset, tf.data.Dataset]],
    epochs: int,
    patience: int = DEFAULT_PATIENCE,
    verbose: int = 2,
) -> list[keras.callbacks.History]:
    """Trains each member with `fit` on its own events, stopped on those held out.

    Args:
      model: the members to train, as build_model returns them.
      fold_datasets: for a member's index, its (training, held-out) datasets.
      epochs, patience, verbose: as for `fit`, per member.
    """
    histories = []
    for index, member in enumerate(model.member_networks):
        training, held_out = fold_datasets(index)
        histories.append(fit(member, training, held_out, epochs, patience, verbose))
    return histories


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


def member_scores(model, features) -> np.ndarray:
    """Each member's score of every event: [events, members].

    Args:
      model: a trained network.MemberAverage.
      features: the model's inputs, anything `predict` takes.
    """
    return np.concatenate(
        [member.predict(features, verbose=0) for member in model.member_networks],
        axis=1,
    )


def out_of_fold_scores(model, features, held_out) -> np.ndarray:
    """Each event's score from the one member that did not learn from it.

    Args:
      model: a trained network.MemberAverage.
      features: the model's inputs, anything `predict` takes.
      held_out: each event's held-out member, in the same order.
    """
    each = member_scores(model, features)
    held_out = np.asarray(held_out).reshape(-1)
    return each[np.arange(len(held_out)), held_out]


def _train_split_out_of_fold(model, files, feature_spec, batch_size):
    """Out-of-fold scores, labels and weights of every event in the train split.

    Scores come from `predict`, which runs the model under the strategy it was
    built in (compiled for the TPU on one), and keeps every event in order.
    """
    bookkeeping_keys = (
        preprocessing.LABEL_KEY,
        preprocessing.WEIGHT_KEY,
        preprocessing.EVENT_ID_KEY,
    )
    batches = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size)
    columns = {key: [] for key in bookkeeping_keys}
    for serialized in batches:
        parsed = tf.io.parse_example(
            serialized, {key: feature_spec[key] for key in bookkeeping_keys}
        )
        for key in bookkeeping_keys:
            columns[key].append(parsed[key].numpy())
    columns = {key: np.concatenate(values) for key, values in columns.items()}
    inputs = network.input_names()
    features = batches.map(
        lambda serialized: tf.io.parse_example(
            serialized, {name: feature_spec[name] for name in inputs}
        )
    )
    held_out = held_out_members(
        columns[preprocessing.EVENT_ID_KEY], len(model.member_networks)
    ).numpy()
    scores = out_of_fold_scores(model, features, held_out)
    return scores, columns[preprocessing.LABEL_KEY], columns[preprocessing.WEIGHT_KEY]


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
    members = int(config.get(MEMBERS_KEY, network.DEFAULT_MEMBERS))
    if members < 2:
        raise ValueError(
            f"custom_config {MEMBERS_KEY!r} is {members}: cross-fitting holds "
            "each event out of one member, so training needs at least two"
        )
    with strategy.scope():
        model = network.build_model(model_type, members)
    model.summary(print_fn=logging.info, expand_nested=True)

    train_files = matching_files(fn_args.train_files)
    train_steps = fn_args.train_steps
    scales = None
    if config.get(WEIGHTED_KEY, False):
        scales = class_scales(*_labels_and_weights(train_files, feature_spec, 4096))

    def fold_datasets(member: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        training = make_dataset(
            train_files,
            feature_spec,
            global_batch,
            shuffle_seed=seed + member,
            repeat=bool(train_steps),
            class_scales=scales,
            fold=Fold(member, members),
        )
        held_out = make_dataset(
            train_files,
            feature_spec,
            global_batch,
            fold=Fold(member, members, held_out=True),
        )
        return training, held_out

    if train_steps:
        # A fixed number of steps per member, as TFX's train_args ask.
        for index, member in enumerate(model.member_networks):
            member.fit(
                fold_datasets(index)[0],
                steps_per_epoch=train_steps,
                epochs=1,
                verbose=2,
            )
    else:
        epochs = int(config.get(EPOCHS_KEY, DEFAULT_EPOCHS))
        patience = int(config.get(PATIENCE_KEY, DEFAULT_PATIENCE))
        cross_fit(model, fold_datasets, epochs, patience)

    scores, labels, weights = _train_split_out_of_fold(
        model, train_files, feature_spec, 4096
    )
    share, cut, best_ams = choose_share(scores, labels, weights)
    logging.info(
        "%s trained: out-of-fold AMS %.3f on %d train events, selecting the top "
        "%.1f%% (score cut %.4f)",
        model_type,
        best_ams,
        len(scores),
        100.0 * share,
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
                "share": share,
                "out_of_fold_cut": float(cut),
                "out_of_fold_ams": float(best_ams),
                "out_of_fold_events": len(scores),
            },
            handle,
        )
    logging.info("Exported %s model to %s", model_type, fn_args.serving_model_dir)


def choose_share(out_of_fold, labels, weights) -> tuple[float, float, float]:
    """The share of events to call signal, chosen on out-of-fold scores.

    The cut that maximises their AMS is kept as the share of events it
    selects rather than as a score: each out-of-fold score comes from one
    member, served scores are the members' average, and the same score
    marks a different place in the two rankings. The share carries over to
    test events drawn as the training events were.

    Candidate cuts are compared unpadded (scoring.best_cut can pad their
    background against a cut that wins on the luck of selecting none): the
    networks' most signal-like events are pure enough that the narrow
    selections padding steers away from are the ones that hold up on new
    events. On the real sample, with splits not used for the README's
    table, any padding from 0.5 to 8 events lowered both networks' median
    test AMS.

    Returns:
      (share, cut, ams): the share, the out-of-fold score cut it came from
      and the out-of-fold AMS there.
    """
    cut, best_ams = scoring.best_cut(out_of_fold, labels, weights)
    return scoring.selected_share(out_of_fold, cut), cut, best_ams


def read_selection(serving_model_dir: str) -> tuple[str, float]:
    """How an exported model selects the events it calls signal.

    Returns:
      ("share", fraction): the top fraction of the scored events, the share
      that the AMS-maximising cut selected of the train split's out-of-fold
      scores; or, for a model exported before shares were kept, ("cut",
      score), that cut itself.

    Raises:
      ValueError: the file holds neither.
    """
    path = os.path.join(serving_model_dir, CUT_FILE)
    with tf.io.gfile.GFile(path) as handle:
        stored = json.load(handle)
    for key in ("share", "cut"):
        if key in stored:
            return key, float(stored[key])
    raise ValueError(f"{path} holds neither a share of events nor a score cut")
