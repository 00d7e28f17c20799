"""A raw event gives the model the same inputs at serving time as in training."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import (
    dataset_metadata,
    metadata_io,
)

from models import network, preprocessing, trainer
from pipeline import challenge
from tests.conftest import curated_schema

MISSING = challenge.MISSING_VALUE


def _events(count: int = 24):
    """Random events with every jet-count pattern of missing values."""
    rng = np.random.default_rng(7)
    events = []
    for index in range(count):
        jets = index % 4
        event = {name: [float(rng.uniform(0.5, 150.0))] for name in challenge.FEATURES}
        for name in challenge.FEATURES:
            if name.endswith("_phi"):
                event[name] = [float(rng.uniform(-np.pi, np.pi))]
            elif name.endswith("_eta"):
                event[name] = [float(rng.uniform(-2.5, 2.5))]
        event[challenge.JET_COUNT] = [jets]
        if jets < 2:
            for name in (
                "DER_deltaeta_jet_jet",
                "DER_mass_jet_jet",
                "DER_prodeta_jet_jet",
                "DER_lep_eta_centrality",
                "PRI_jet_subleading_pt",
                "PRI_jet_subleading_eta",
                "PRI_jet_subleading_phi",
            ):
                event[name] = [MISSING]
        if jets == 0:
            for name in ("PRI_jet_leading_pt", "PRI_jet_leading_eta"):
                event[name] = [MISSING]
            event["PRI_jet_leading_phi"] = [MISSING]
            event["PRI_jet_all_pt"] = [0.0]
        if index % 5 == 0:
            event["DER_mass_MMC"] = [MISSING]
        event[challenge.LABEL] = [b"s" if index % 2 else b"b"]
        event[challenge.EVENT_ID] = [100000 + index]
        event[challenge.WEIGHT] = [float(rng.uniform(0.001, 5.0))]
        events.append(event)
    return events


def _serialized(event) -> bytes:
    """The event as a serving tf.Example: the 30 features, no label, no weight."""
    feature = {}
    for name in challenge.FEATURES:
        if name == challenge.JET_COUNT:
            value = tf.train.Feature(int64_list=tf.train.Int64List(value=event[name]))
        else:
            value = tf.train.Feature(float_list=tf.train.FloatList(value=event[name]))
        feature[name] = value
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """Training-time inputs from Beam, and the written Transform graph."""
    events = _events()
    metadata = dataset_metadata.DatasetMetadata(curated_schema())
    root = tmp_path_factory.mktemp("serving")
    with tft_beam.Context(temp_dir=str(root / "tft")):
        (rows, _), transform_fn = (
            events,
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(root / "transform"))
    # Where the Transform component keeps the raw schema the serving side reads.
    metadata_io.write_metadata(
        metadata, str(root / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    training_inputs = {
        name: np.array([row[name] for row in rows], dtype=np.float32)
        for name in network.input_names()
    }
    return {
        "events": events,
        "training_inputs": training_inputs,
        "transform_output": tft.TFTransformOutput(str(root / "transform")),
        "root": root,
    }


def test_serving_graph_gives_the_training_inputs(transformed):
    output = transformed["transform_output"]
    serving_spec = {
        name: spec
        for name, spec in output.raw_feature_spec().items()
        if name in challenge.FEATURES
    }
    serialized = tf.constant([_serialized(event) for event in transformed["events"]])
    served = output.transform_features_layer()(
        tf.io.parse_example(serialized, serving_spec)
    )

    assert preprocessing.LABEL_KEY not in served
    # Beam and serving run the same graph on differently sized batches, whose
    # vectorised maths can differ in the last bits; a quantile bin divides by
    # its width, narrow among 24 events, and magnifies that to about 1e-6. A
    # real mismatch (other quantiles, another scaling) is orders larger.
    for name in network.input_names():
        np.testing.assert_allclose(
            served[name].numpy(),
            transformed["training_inputs"][name],
            rtol=1e-5,
            atol=1e-5,
            err_msg=name,
        )


def test_exported_model_scores_raw_events_as_it_scores_training_inputs(transformed):
    tf.keras.utils.set_random_seed(0)
    model = network.build_model("gru", units=8, dense_units=8)
    expected = model.predict(transformed["training_inputs"], verbose=0).reshape(-1)

    export_dir = str(transformed["root"] / "model")
    signatures = trainer._serving_signatures(model, transformed["transform_output"])
    tf.saved_model.save(model, export_dir, signatures)
    serve = tf.saved_model.load(export_dir).signatures[trainer.SERVING_SIGNATURE]
    serialized = tf.constant([_serialized(event) for event in transformed["events"]])
    scores = serve(examples=serialized)[trainer.PREDICTION_KEY].numpy()

    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
