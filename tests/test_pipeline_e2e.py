"""The whole pipeline on small generated data, checked through ML Metadata and files.

Slow (several minutes): it trains, evaluates and pushes for real.
"""

import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx import v1 as tfx

from components.anomaly_gate import AnomaliesFound
from components.submission import SUBMISSION_FILE, Submission
from pipeline import challenge, generate_data, scoring
from pipeline.pipeline import SCHEMA_DIR, PipelineSettings, create_pipeline

TRAINING_EVENTS = 3000
TEST_EVENTS = 400


def _settings(root: str, data: tuple[str, str], **overrides) -> PipelineSettings:
    values = dict(
        train_data=data[0],
        test_data=data[1],
        pipeline_root=os.path.join(root, "pipeline_root"),
        serving_model_dir=os.path.join(root, "serving_model"),
        submission_path=os.path.join(root, "submission.csv"),
        model_type="gru",
        epochs=4,
        batch_size=32,
        min_auc=0.6,
        min_ams=0.5,
        enable_cache=True,
        beam_pipeline_args=[
            "--direct_running_mode=in_memory",
            "--direct_num_workers=1",
        ],
    )
    values.update(overrides)
    return PipelineSettings(**values)


def _run(settings: PipelineSettings, root: str):
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite")
    )
    tfx.orchestration.LocalDagRunner().run(create_pipeline(settings, config))
    return metadata_store.MetadataStore(config)


def _artifacts(store, type_name: str):
    return sorted(store.get_artifacts_by_type(type_name), key=lambda a: a.id)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    return generate_data.write_challenge_files(
        str(folder), TRAINING_EVENTS, TEST_EVENTS, seed=7
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, data):
    """A first run that must be blessed, then a one-step candidate that must lose."""
    root = str(tmp_path_factory.mktemp("runs"))
    store = _run(_settings(root, data), root)
    first_submission = open(os.path.join(root, "submission.csv")).read()
    first = {
        "blessings": _artifacts(store, "ModelBlessing"),
        "pushes": _artifacts(store, "PushedModel"),
        "models": _artifacts(store, "Model"),
        "pushed_versions": sorted(os.listdir(os.path.join(root, "serving_model"))),
        "submission": first_submission,
    }
    store = _run(_settings(root, data, train_steps=1), root)
    return root, first, store


def test_first_run_blesses_and_pushes_a_model(two_runs):
    root, first, _ = two_runs
    assert [b.custom_properties["blessed"].int_value for b in first["blessings"]] == [1]
    assert [p.custom_properties["pushed"].int_value for p in first["pushes"]] == [1]
    assert len(first["pushed_versions"]) == 1
    pushed = os.path.join(root, "serving_model", first["pushed_versions"][0])
    assert tf.saved_model.contains_saved_model(pushed)


def test_pushed_model_scores_raw_events(two_runs, data):
    root, first, _ = two_runs
    pushed = os.path.join(root, "serving_model", first["pushed_versions"][0])
    serve = tf.saved_model.load(pushed).signatures["serving_default"]

    test_events = pd.read_csv(data[1]).head(5)
    examples = []
    for _, event in test_events.iterrows():
        features = {
            name: tf.train.Feature(
                int64_list=tf.train.Int64List(value=[int(event[name])])
            )
            if name == challenge.JET_COUNT
            else tf.train.Feature(float_list=tf.train.FloatList(value=[event[name]]))
            for name in challenge.FEATURES
        }
        example = tf.train.Example(features=tf.train.Features(feature=features))
        examples.append(example.SerializeToString())

    probability = serve(examples=tf.constant(examples))["probability"].numpy()
    assert probability.shape == (5,)
    assert np.all((probability >= 0) & (probability <= 1))
    assert len(set(np.round(probability, 6))) > 1


def test_first_submission_covers_every_test_event(two_runs, data):
    _, first, _ = two_runs
    submission = pd.read_csv(pd.io.common.StringIO(first["submission"]))
    expected_ids = pd.read_csv(data[1])[challenge.EVENT_ID]
    scoring.validate_submission(submission, expected_event_ids=expected_ids)
    assert len(submission) == TEST_EVENTS
    assert 0 < (submission["Class"] == "s").sum() < TEST_EVENTS


def test_losing_candidate_is_not_blessed_nor_pushed(two_runs):
    root, first, store = two_runs
    blessings = _artifacts(store, "ModelBlessing")
    assert [b.custom_properties["blessed"].int_value for b in blessings] == [1, 0]
    pushes = _artifacts(store, "PushedModel")
    assert [p.custom_properties["pushed"].int_value for p in pushes] == [1, 0]
    assert (
        sorted(os.listdir(os.path.join(root, "serving_model")))
        == first["pushed_versions"]
    )


def test_submission_after_a_rejection_comes_from_the_earlier_model(two_runs):
    root, first, store = two_runs
    submissions = _artifacts(store, Submission.TYPE_NAME)
    assert len(submissions) == 2
    first_model_uri = first["models"][0].uri
    assert [s.custom_properties["model_uri"].string_value for s in submissions] == [
        first_model_uri,
        first_model_uri,
    ]
    assert open(os.path.join(root, "submission.csv")).read() == first["submission"]
    artifact_copy = os.path.join(submissions[1].uri, SUBMISSION_FILE)
    assert open(artifact_copy).read() == first["submission"]


def test_anomalies_stop_the_run_before_transform(tmp_path, data):
    # A schema that allows no jets at all: every event with one is an anomaly.
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    schema = open(os.path.join(SCHEMA_DIR, "schema.pbtxt")).read()
    schema = schema.replace("min: 0\n    max: 3", "min: 0\n    max: 0")
    assert "max: 0" in schema
    (schema_dir / "schema.pbtxt").write_text(schema)

    root = str(tmp_path)
    with pytest.raises(AnomaliesFound, match="feature PRI_jet_num"):
        _run(
            _settings(root, data, schema_dir=str(schema_dir), enable_cache=False), root
        )

    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite")
    )
    store = metadata_store.MetadataStore(config)
    assert store.get_artifacts_by_type("TransformGraph") == []
    assert store.get_artifacts_by_type("Model") == []
    assert not os.path.exists(os.path.join(root, "submission.csv"))
