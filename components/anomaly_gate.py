"""Stops the run when ExampleValidator found anomalies, listing them readably."""

import os

import tensorflow as tf
from absl import logging
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts

# The file ExampleValidator writes for each split.
ANOMALIES_FILE = "SchemaDiff.pb"


class AnomaliesFound(RuntimeError):
    """The events do not match the curated schema."""


def describe_anomalies(
    anomalies_by_split: dict[str, anomalies_pb2.Anomalies],
) -> list[str]:
    """One line per anomaly: split, feature, and what is wrong with it."""
    lines = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = "; ".join(
                reason.description or reason.short_description for reason in info.reason
            )
            lines.append(
                f"{split} split, feature {feature}: {reasons or info.description}"
            )
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            reasons = "; ".join(reason.description for reason in info.reason)
            lines.append(f"{split} split, whole dataset: {reasons or info.description}")
    return lines


def read_anomalies(
    anomalies_uri: str, split_names: str
) -> dict[str, anomalies_pb2.Anomalies]:
    """Reads ExampleValidator's output for each split."""
    result = {}
    for split in artifact_utils.decode_split_names(split_names):
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        result[split] = anomalies
    return result


@tfx.dsl.components.component
def AnomalyGate(
    anomalies: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleAnomalies],
) -> None:
    """Raises AnomaliesFound, with every anomaly listed, if there are any."""
    by_split = read_anomalies(anomalies.uri, anomalies.split_names)
    problems = describe_anomalies(by_split)
    if problems:
        raise AnomaliesFound(
            f"{len(problems)} anomalies against the schema; the run stops before "
            "training:\n  " + "\n  ".join(problems)
        )
    logging.info("No anomalies in splits %s", ", ".join(sorted(by_split)))
