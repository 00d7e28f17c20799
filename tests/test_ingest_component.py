"""The ExampleGens in a real TFX run: good files become examples, bad ones stop it."""

import hashlib
import os

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples

from components.challenge_example_gen import challenge_example_gen
from pipeline import challenge, generate_data
from pipeline.pipeline import train_eval_split

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _run(root: str, *example_gens):
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite")
    )
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name="ingest",
            pipeline_root=os.path.join(root, "root"),
            components=list(example_gens),
            metadata_connection_config=config,
            beam_pipeline_args=BEAM_ARGS,
        )
    )
    return metadata_store.MetadataStore(config)


def _count(examples, split: str) -> int:
    [uri] = artifact_utils.get_split_uris([examples], split)
    files = tf.io.gfile.glob(os.path.join(uri, "*"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def test_training_and_test_events_become_examples(tmp_path):
    training, test = generate_data.write_challenge_files(str(tmp_path), 500, 80, seed=1)
    store = _run(
        str(tmp_path),
        challenge_example_gen(training, labelled=True).with_id("TrainingEvents"),
        challenge_example_gen(test, labelled=False).with_id("TestEvents"),
    )

    by_split = {}
    for mlmd_artifact in store.get_artifacts_by_type("Examples"):
        examples = Examples()
        examples.set_mlmd_artifact(mlmd_artifact)
        for split in artifact_utils.decode_split_names(examples.split_names):
            by_split[split] = _count(examples, split)

    # Without an output config, the labelled events keep one "train" split.
    assert by_split == {"train": 500, "test": 80}


def _event_ids(examples, split: str) -> set[int]:
    [uri] = artifact_utils.get_split_uris([examples], split)
    files = tf.io.gfile.glob(os.path.join(uri, "*"))
    return {
        tf.train.Example.FromString(record.numpy())
        .features.feature[challenge.EVENT_ID]
        .int64_list.value[0]
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP")
    }


def test_eval_split_is_decided_by_the_event_id_alone(tmp_path):
    training, _ = generate_data.write_challenge_files(str(tmp_path), 400, 5, seed=2)
    store = _run(
        str(tmp_path),
        challenge_example_gen(
            training, labelled=True, output_config=train_eval_split(eval_buckets=2)
        ),
    )
    [mlmd_artifact] = store.get_artifacts_by_type("Examples")
    examples = Examples()
    examples.set_mlmd_artifact(mlmd_artifact)
    train, evaluation = _event_ids(examples, "train"), _event_ids(examples, "eval")

    def bucket(event_id: int) -> int:
        # The EventId feature's own bytes, hashed: nothing else of the event,
        # so the split cannot change from one run or process to the next.
        feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[event_id]))
        digest = hashlib.sha256(feature.SerializeToString(deterministic=True))
        return int(digest.hexdigest(), 16) % 10

    assert len(train) + len(evaluation) == 400
    assert evaluation == {i for i in train | evaluation if bucket(i) >= 8}
    assert 40 <= len(evaluation) <= 120


def test_bad_file_stops_the_run_naming_line_and_column(tmp_path):
    training, _ = generate_data.write_challenge_files(str(tmp_path), 50, 5, seed=1)
    lines = open(training).read().splitlines()
    header = lines[0].split(",")
    cells = lines[20].split(",")
    cells[header.index(challenge.LABEL)] = "x"
    lines[20] = ",".join(cells)
    bad = tmp_path / "bad_training.csv"
    bad.write_text("\n".join(lines) + "\n")

    with pytest.raises(
        Exception, match=r"bad_training\.csv line 21, column Label: 'x'"
    ):
        _run(str(tmp_path), challenge_example_gen(str(bad), labelled=True))
