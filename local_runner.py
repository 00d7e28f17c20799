"""Runs the pipeline on this machine with Apache Beam's DirectRunner.

Without flags it generates the default data (if not there yet) and writes
everything under outputs/.
"""

import argparse
import os
import sys

from absl import logging
from tfx import v1 as tfx

from pipeline import generate_data
from pipeline.pipeline import (
    PipelineSettings,
    add_training_arguments,
    create_pipeline,
    training_settings,
)

DEFAULT_OUTPUT_DIR = "outputs"
DEFAULT_TRAINING_EVENTS = 50_000
DEFAULT_TEST_EVENTS = 20_000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--train-data",
        help="Kaggle training.csv or training.zip, or the CERN Open Data CSV "
        "(default: generated events)",
    )
    parser.add_argument(
        "--test-data", help="Kaggle test.csv or test.zip (default: generated events)"
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    add_training_arguments(parser)
    parser.add_argument(
        "--generated-training-events", type=int, default=DEFAULT_TRAINING_EVENTS
    )
    parser.add_argument(
        "--generated-test-events", type=int, default=DEFAULT_TEST_EVENTS
    )
    args = parser.parse_args(argv)
    if (args.train_data is None) != (args.test_data is None):
        parser.error("give both --train-data and --test-data, or neither")
    return args


def default_data(
    output_dir: str, n_training: int, n_test: int, seed: int
) -> tuple[str, str]:
    """The generated training and test files, written on first use."""
    data_dir = os.path.join(output_dir, "data")
    training = os.path.join(data_dir, "training.csv")
    test = os.path.join(data_dir, "test.csv")
    if not (os.path.exists(training) and os.path.exists(test)):
        generate_data.write_challenge_files(data_dir, n_training, n_test, seed)
    return training, test


def latest_push(serving_model_dir: str) -> str | None:
    if not os.path.isdir(serving_model_dir):
        return None
    versions = sorted(v for v in os.listdir(serving_model_dir) if v.isdigit())
    return os.path.join(serving_model_dir, versions[-1]) if versions else None


def main(argv: list[str]) -> int:
    logging.set_verbosity(logging.INFO)
    args = parse_args(argv)
    output_dir = os.path.abspath(args.output_dir)
    if args.train_data is None:
        train_data, test_data = default_data(
            output_dir,
            args.generated_training_events,
            args.generated_test_events,
            args.seed,
        )
    else:
        train_data, test_data = args.train_data, args.test_data

    settings = PipelineSettings(
        train_data=train_data,
        test_data=test_data,
        pipeline_root=os.path.join(output_dir, "pipeline_root"),
        serving_model_dir=os.path.join(output_dir, "serving_model"),
        submission_path=os.path.join(output_dir, "submission.csv"),
        **training_settings(args),
        beam_pipeline_args=[
            "--direct_running_mode=in_memory",
            "--direct_num_workers=1",
        ],
    )
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(output_dir, "metadata.sqlite")
    )
    tfx.orchestration.LocalDagRunner().run(create_pipeline(settings, metadata))

    print(f"Pushed model:   {latest_push(settings.serving_model_dir) or 'none pushed'}")
    print(f"Submission:     {settings.submission_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
