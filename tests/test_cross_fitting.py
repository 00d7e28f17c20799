"""Cross-fitting in the trainer: which member each event is held out from,
each member's events, and the out-of-fold scores of a trained model."""

import numpy as np
import tensorflow as tf

from models import network, preprocessing, trainer

MEMBERS = 4


def test_an_event_is_held_out_from_the_same_member_in_any_order():
    event_ids = np.arange(100_000, 110_000, dtype=np.int64)
    held_out = trainer.held_out_members(event_ids, MEMBERS).numpy()
    order = np.random.default_rng(0).permutation(len(event_ids))
    shuffled = trainer.held_out_members(event_ids[order], MEMBERS).numpy()

    np.testing.assert_array_equal(shuffled, held_out[order])
    assert set(held_out) == set(range(MEMBERS))
    # Each member is held out from about a quarter of the events.
    shares = np.bincount(held_out) / len(event_ids)
    np.testing.assert_allclose(shares, 1 / MEMBERS, atol=0.02)


def _transformed_example(event_id: int, label: float, rng) -> bytes:
    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    feature = {
        preprocessing.OBJECTS_KEY: floats(rng.normal(size=preprocessing.OBJECTS_WIDTH)),
        preprocessing.EVENT_KEY: floats(rng.normal(size=preprocessing.EVENT_WIDTH)),
        preprocessing.LABEL_KEY: floats([label]),
        preprocessing.WEIGHT_KEY: floats([1.0]),
        preprocessing.EVENT_ID_KEY: tf.train.Feature(
            int64_list=tf.train.Int64List(value=[event_id])
        ),
    }
    return tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()


FEATURE_SPEC = {
    preprocessing.OBJECTS_KEY: tf.io.FixedLenFeature(
        [preprocessing.OBJECTS_WIDTH], tf.float32
    ),
    preprocessing.EVENT_KEY: tf.io.FixedLenFeature(
        [preprocessing.EVENT_WIDTH], tf.float32
    ),
    preprocessing.LABEL_KEY: tf.io.FixedLenFeature([], tf.float32),
    preprocessing.WEIGHT_KEY: tf.io.FixedLenFeature([], tf.float32),
    preprocessing.EVENT_ID_KEY: tf.io.FixedLenFeature([], tf.int64),
}


def _write_events(path: str, event_ids, labels) -> None:
    rng = np.random.default_rng(1)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for event_id, label in zip(event_ids, labels, strict=True):
            writer.write(_transformed_example(int(event_id), float(label), rng))


def test_each_fold_reads_its_member_s_events_only(tmp_path):
    event_ids = 500 + np.arange(400)
    labels = (np.arange(400) % 2).astype(np.float32)
    path = str(tmp_path / "train.gz")
    _write_events(path, event_ids, labels)
    held_out = trainer.held_out_members(event_ids, MEMBERS).numpy()

    def labels_read(fold):
        dataset = trainer.make_dataset(path, FEATURE_SPEC, 1, fold=fold)
        return np.concatenate([batch[1].numpy() for batch in dataset])

    for member in range(MEMBERS):
        # Labels alternate, so matching them event by event checks which
        # events were kept and that their order survived.
        np.testing.assert_array_equal(
            labels_read(trainer.Fold(member, MEMBERS)), labels[held_out != member]
        )
        np.testing.assert_array_equal(
            labels_read(trainer.Fold(member, MEMBERS, held_out=True)),
            labels[held_out == member],
        )
    assert len(labels_read(None)) == len(labels)


def test_cross_fit_trains_each_member_on_its_own_datasets():
    tf.keras.utils.set_random_seed(0)
    model = network.build_model(
        "gru", members=2, units=4, dense_units=4, learning_rate=0.05
    )
    inputs = _inputs(64)
    asked = []

    def fold_datasets(member):
        asked.append(member)
        # Member 0 sees only signal, member 1 only background.
        labels = np.full(64, 1.0 if member == 0 else 0.0, np.float32)
        data = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(16)
        return data, data

    histories = trainer.cross_fit(model, fold_datasets, epochs=10, verbose=0)

    assert asked == [0, 1]
    assert [len(history.history["loss"]) for history in histories] == [10, 10]
    signal_member, background_member = (
        member.predict(inputs, verbose=0).mean() for member in model.member_networks
    )
    assert signal_member > 0.7
    assert background_member < 0.3


def _inputs(events: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {
        preprocessing.OBJECTS_KEY: rng.normal(
            size=(events, preprocessing.OBJECTS_WIDTH)
        ).astype(np.float32),
        preprocessing.EVENT_KEY: rng.normal(
            size=(events, preprocessing.EVENT_WIDTH)
        ).astype(np.float32),
    }


def test_out_of_fold_scores_come_from_the_held_out_member():
    model = network.build_model("gru", members=MEMBERS, units=4, dense_units=4)
    inputs = _inputs(40)
    held_out = np.arange(40) % MEMBERS
    each = model.probabilities(inputs, training=False).numpy()

    scores = trainer.out_of_fold_scores(model, inputs, held_out)
    np.testing.assert_allclose(scores, each[np.arange(40), held_out], rtol=1e-6)
    # Not the average: members disagree, so picking one matters.
    assert np.abs(scores - each.mean(axis=1)).max() > 1e-4
