"""The real run_fn under MirroredStrategy over two logical CPUs: trains, then serves.

The multi-replica path without an accelerator. Logical devices must be set
before TensorFlow starts, so training runs in a child process: this file, run
as a script.
"""

import json
import os
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx import v1 as tfx
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from components import event_files
from models import preprocessing, strategy, trainer
from pipeline import challenge, generate_data
from pipeline.pipeline import SCHEMA_DIR

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINING_EVENTS = 2400
TEST_EVENTS = 300
EVAL_FRACTION = 0.2
REPLICAS = 2
BATCH_PER_REPLICA = 32
EPOCHS = 3


def _raw_examples(path: str, labelled: bool) -> list[bytes]:
    """Serialized tf.Examples of an event file, encoded as the ExampleGens do."""
    return [
        example
        for batch in event_files.read_record_batches(path, labelled)
        for example in example_coder.RecordBatchToExamples(batch)
    ]


def _transform(raw: dict[str, list[bytes]], folder: str) -> tuple[str, dict]:
    """Analyzes the train split with the real preprocessing_fn, transforms both.

    Writes what TFX's Transform would: the transform graph with the raw and
    transformed schemas, and each split's transformed events as GZIP TFRecords.
    """
    schema = text_format.Parse(
        open(os.path.join(SCHEMA_DIR, "schema.pbtxt")).read(), schema_pb2.Schema()
    )
    source = tfxio.TFExampleBeamRecord(physical_format="tf_example", schema=schema)
    transform_dir = os.path.join(folder, "transform_graph")
    # The serving signature parses raw events with this schema.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        os.path.join(transform_dir, tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    patterns = {}
    with beam.Pipeline() as pipeline:
        with tft_beam.Context(temp_dir=os.path.join(folder, "tft_tmp")):
            decoded = {
                split: pipeline
                | f"Create{split}" >> beam.Create(examples)
                | f"Decode{split}" >> source.BeamSource()
                for split, examples in raw.items()
            }
            (transformed_train, _), transform_fn = (
                decoded["train"],
                source.TensorAdapterConfig(),
            ) | tft_beam.AnalyzeAndTransformDataset(
                preprocessing.preprocessing_fn, output_record_batches=True
            )
            transformed_eval, _ = (
                (decoded["eval"], source.TensorAdapterConfig()),
                transform_fn,
            ) | tft_beam.TransformDataset(output_record_batches=True)
            _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)

            for split, data in (
                ("train", transformed_train),
                ("eval", transformed_eval),
            ):
                prefix = os.path.join(folder, f"Split-{split}", "transformed_examples")
                patterns[split] = prefix + "*"
                _ = (
                    data
                    | f"Encode{split}"
                    >> beam.FlatMap(
                        lambda batch: example_coder.RecordBatchToExamples(batch[0])
                    )
                    | f"Write{split}"
                    >> beam.io.WriteToTFRecord(
                        prefix,
                        file_name_suffix=".gz",
                        compression_type=beam.io.filesystem.CompressionTypes.GZIP,
                    )
                )
    return transform_dir, patterns


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random signal event outscores a random background one."""
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    n_signal = int(labels.sum())
    n_background = len(labels) - n_signal
    return float(
        (ranks[labels == 1].sum() - n_signal * (n_signal + 1) / 2)
        / (n_signal * n_background)
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Events transformed here, then run_fn run in a child over two logical CPUs."""
    folder = str(tmp_path_factory.mktemp("multi_replica"))
    training_csv, test_csv = generate_data.write_challenge_files(
        os.path.join(folder, "data"), TRAINING_EVENTS, TEST_EVENTS, seed=3
    )
    labelled = _raw_examples(training_csv, labelled=True)
    n_eval = int(len(labelled) * EVAL_FRACTION)
    raw = {"train": labelled[n_eval:], "eval": labelled[:n_eval]}
    transform_dir, patterns = _transform(raw, folder)

    request = {
        "train_files": [patterns["train"]],
        "eval_files": [patterns["eval"]],
        "transform_output": transform_dir,
        "serving_model_dir": os.path.join(folder, "serving_model"),
        "model_run_dir": os.path.join(folder, "model_run"),
        "custom_config": {
            trainer.MODEL_TYPE_KEY: "gru",
            trainer.EPOCHS_KEY: EPOCHS,
            trainer.BATCH_SIZE_KEY: BATCH_PER_REPLICA,
            trainer.SEED_KEY: 0,
        },
        "report": os.path.join(folder, "report.json"),
    }
    request_path = os.path.join(folder, "request.json")
    with open(request_path, "w") as handle:
        json.dump(request, handle)
    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), request_path],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-6000:]
    with open(request["report"]) as handle:
        report = json.load(handle)
    return {
        "report": report,
        "serving_model_dir": request["serving_model_dir"],
        "eval_events": raw["eval"],
        "test_events": _raw_examples(test_csv, labelled=False),
    }


def test_run_fn_trains_under_mirrored_strategy_on_two_cpus(trained):
    report = trained["report"]
    assert report["strategy"] == "MirroredStrategy"
    assert report["replicas"] == REPLICAS
    assert [device.split("/")[-1] for device in report["devices"]] == [
        "device:CPU:0",
        "device:CPU:1",
    ]
    # Every variable is mirrored on both replicas.
    assert report["variables"] > 0
    assert report["mirrored_variables"] == report["variables"]
    # The per-replica batch from custom_config, scaled to a global one.
    assert report["global_batch"] == REPLICAS * BATCH_PER_REPLICA


def test_exported_model_serves_raw_test_events(trained):
    serve = tf.saved_model.load(trained["serving_model_dir"]).signatures[
        trainer.SERVING_SIGNATURE
    ]
    # Test events carry EventId and the 30 features only: no label, no weight.
    test_events = trained["test_events"]
    scores = serve(examples=tf.constant(test_events))[trainer.PREDICTION_KEY]
    assert scores.shape == (len(test_events),)
    assert np.all((scores.numpy() >= 0.0) & (scores.numpy() <= 1.0))
    kind, share = trainer.read_selection(trained["serving_model_dir"])
    assert kind == "share"
    assert 0.0 < share <= 1.0


def test_exported_model_separates_signal_from_background(trained):
    serve = tf.saved_model.load(trained["serving_model_dir"]).signatures[
        trainer.SERVING_SIGNATURE
    ]
    events = trained["eval_events"]
    scores = serve(examples=tf.constant(events))[trainer.PREDICTION_KEY].numpy()
    labels = np.array(
        [
            tf.train.Example.FromString(event)
            .features.feature[challenge.LABEL]
            .bytes_list.value[0]
            == challenge.SIGNAL_LABEL.encode()
            for event in events
        ],
        dtype=np.float64,
    )
    assert _auc(scores, labels) > 0.6


def _split_cpu_and_train(request_path: str) -> None:
    """In the child: two logical CPUs, then the real run_fn, then a report."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS
    )
    with open(request_path) as handle:
        request = json.load(handle)

    # The real chooser, watched: the report says what run_fn trained under.
    chosen = []

    def watched_choose_strategy(*args, **kwargs):
        chosen.append(strategy.choose_strategy(*args, **kwargs))
        return chosen[-1]

    built = []
    real_build_model = trainer.network.build_model

    def watched_build_model(*args, **kwargs):
        built.append(real_build_model(*args, **kwargs))
        return built[-1]

    batches = []
    real_make_dataset = trainer.make_dataset

    def watched_make_dataset(file_pattern, feature_spec, batch_size, **kwargs):
        batches.append(batch_size)
        return real_make_dataset(file_pattern, feature_spec, batch_size, **kwargs)

    trainer.choose_strategy = watched_choose_strategy
    trainer.network.build_model = watched_build_model
    trainer.make_dataset = watched_make_dataset

    trainer.run_fn(
        tfx.components.FnArgs(
            train_files=request["train_files"],
            eval_files=request["eval_files"],
            transform_output=request["transform_output"],
            serving_model_dir=request["serving_model_dir"],
            model_run_dir=request["model_run_dir"],
            custom_config=request["custom_config"],
        )
    )
    used = chosen[0]
    variables = built[0].variables
    with open(request["report"], "w") as handle:
        json.dump(
            {
                "strategy": type(used).__name__,
                "replicas": used.num_replicas_in_sync,
                "devices": list(used.extended.worker_devices),
                "variables": len(variables),
                "mirrored_variables": sum(
                    len(getattr(v, "values", ())) == REPLICAS for v in variables
                ),
                "global_batch": batches[0],
            },
            handle,
        )


if __name__ == "__main__":
    _split_cpu_and_train(sys.argv[1])
