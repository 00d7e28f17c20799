"""Scores the test events with the newest blessed model and writes the submission."""

import os

import apache_beam as beam
import numpy as np
import tensorflow as tf
from absl import logging
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import path_utils

from components.blessing import read_verdict
from models import trainer
from pipeline import challenge, scoring

SUBMISSION_FILE = "submission.csv"


class Submission(tfx.dsl.Artifact):
    """A challenge submission file: EventId,RankOrder,Class."""

    TYPE_NAME = "higgs_tfx.Submission"


class NoBlessedModel(RuntimeError):
    """Neither this run's candidate nor any earlier model was blessed."""


class _ScoreEvents(beam.DoFn):
    """Runs the served model on batches of serialized test events."""

    def __init__(self, serving_model_dir: str):
        self._serving_model_dir = serving_model_dir

    def setup(self):
        self._serve = tf.saved_model.load(self._serving_model_dir).signatures[
            trainer.SERVING_SIGNATURE
        ]
        self._id_spec = {challenge.EVENT_ID: tf.io.FixedLenFeature([1], tf.int64)}

    def process(self, serialized_batch):
        serialized = tf.constant(serialized_batch)
        event_ids = tf.io.parse_example(serialized, self._id_spec)[challenge.EVENT_ID]
        scores = self._serve(examples=serialized)[trainer.PREDICTION_KEY]
        yield event_ids.numpy().reshape(-1), scores.numpy().reshape(-1)


def _write_submission(batches, selection: tuple[str, float], paths: list[str]) -> int:
    event_ids = np.concatenate([ids for ids, _ in batches])
    scores = np.concatenate([scores for _, scores in batches])
    kind, value = selection
    cut = scoring.cut_for_share(scores, value) if kind == "share" else value
    logging.info(
        "Calling %.1f%% of %d test events signal (score cut %.4f)",
        100.0 * scoring.selected_share(scores, cut),
        len(scores),
        cut,
    )
    frame = scoring.make_submission(event_ids, scores, cut)
    scoring.validate_submission(frame)
    for path in paths:
        tf.io.gfile.makedirs(os.path.dirname(path) or ".")
        scoring.write_submission(frame, path, open_fn=tf.io.gfile.GFile)
    return len(frame)


def choose_model(candidate, blessing, baseline, evaluation):
    """The newest blessed model: this run's candidate if blessed, else the last one."""
    blessed = bool(blessing.get_int_custom_property("blessed"))
    verdict = read_verdict(evaluation.uri, blessed)
    logging.info("%s", verdict.describe())
    if blessed:
        return candidate
    if baseline is None:
        raise NoBlessedModel(
            "No blessed model to score the test events with: the candidate was "
            f"rejected ({'; '.join(verdict.failures)}) and no earlier model was "
            "blessed. Nothing was pushed; earlier outputs are untouched."
        )
    logging.info(
        "Candidate rejected: the submission comes from the last blessed model %s",
        baseline.uri,
    )
    return baseline


@tfx.dsl.components.component(use_beam=True)
def SubmissionWriter(
    test_examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    blessing: tfx.dsl.components.InputArtifact[standard_artifacts.ModelBlessing],
    evaluation: tfx.dsl.components.InputArtifact[standard_artifacts.ModelEvaluation],
    submission: tfx.dsl.components.OutputArtifact[Submission],
    baseline_model: tfx.dsl.components.InputArtifact[standard_artifacts.Model] = None,
    submission_path: tfx.dsl.components.Parameter[str] = "",
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Scores every test event and writes submission.csv.

    The model is this run's candidate when the Evaluator blessed it, otherwise
    the last blessed model. Events are ranked by score, and the top share of
    them is classed signal: the share that the model's AMS-maximising cut
    selected of the train split's out-of-fold scores.

    Args:
      test_examples: the test events, as the test ExampleGen wrote them.
      model: this run's candidate.
      blessing: the Evaluator's verdict on the candidate.
      evaluation: the Evaluator's figures, for the log.
      submission: where the submission artifact is written.
      baseline_model: the last blessed model before this run, if any.
      submission_path: a further place to copy submission.csv to.
      beam_pipeline: provided by TFX.
    """
    chosen = choose_model(model, blessing, baseline_model, evaluation)
    serving_model_dir = path_utils.serving_model_path(
        chosen.uri, path_utils.is_old_model_artifact(chosen)
    )
    selection = trainer.read_selection(serving_model_dir)

    example_files = [
        os.path.join(uri, "*")
        for uri in artifact_utils.get_split_uris([test_examples], "test")
    ]
    paths = [os.path.join(submission.uri, SUBMISSION_FILE)]
    if submission_path:
        paths.append(submission_path)

    with beam_pipeline as pipeline:
        _ = (
            pipeline
            | "TestEventFiles" >> beam.Create(example_files)
            | "ReadTestEvents"
            >> beam.io.ReadAllFromTFRecord(
                compression_type=beam.io.filesystem.CompressionTypes.GZIP
            )
            | "Batch" >> beam.BatchElements(min_batch_size=512, max_batch_size=8192)
            | "Score" >> beam.ParDo(_ScoreEvents(serving_model_dir))
            | "Gather" >> beam.combiners.ToList()
            | "Write" >> beam.Map(_write_submission, selection, paths)
            | "Log"
            >> beam.Map(
                lambda n: logging.info(
                    "Submission of %d test events written to %s", n, ", ".join(paths)
                )
            )
        )
    submission.set_string_custom_property("model_uri", chosen.uri)
