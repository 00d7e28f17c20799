"""The higgs-tfx pipeline: challenge events in, blessed model and submission out.

    training file -> TrainingExampleGen -> train, eval splits
        -> StatisticsGen -> ExampleValidator (against schema/ via ImportSchemaGen)
        -> AnomalyGate: any anomaly stops the run here
        -> Transform (normalisation, -999.0 as missing)
        -> Trainer (LSTM or GRU, cross-fitted on the train split; exports a
           raw-event SavedModel and its AMS cut)
        -> Evaluator (eval split, vs LastBlessedModel) -> Pusher (blessed only)
    test file -> TestExampleGen -> test split
        -> SubmissionWriter (newest blessed model) -> submission.csv

Runners (local_runner.py, kubeflow_runner.py) only choose where it runs.
"""

import argparse
import dataclasses
import os

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.anomaly_gate import AnomalyGate
from components.challenge_example_gen import challenge_example_gen
from components.submission import SubmissionWriter
from models import network, preprocessing, trainer
from pipeline import challenge

# Where TFX finds the project's functions: module paths of the installed
# package, so no module file has to be packaged at run time.
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
AMS_METRIC_MODULE = "models.ams_metric"

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "schema")


@dataclasses.dataclass
class PipelineSettings:
    """What a run of the pipeline may vary."""

    train_data: str
    test_data: str
    pipeline_root: str
    serving_model_dir: str
    submission_path: str
    pipeline_name: str = "higgs-tfx"
    model_type: str = "lstm"
    # How many networks the model averages; each is held out from its own
    # share of the train split (cross-fitting), so at least two.
    members: int = network.DEFAULT_MEMBERS
    epochs: int = trainer.DEFAULT_EPOCHS
    # When set, training stops after this many steps instead of `epochs`.
    train_steps: int | None = None
    batch_size: int = trainer.DEFAULT_BATCH_SIZE
    seed: int = 0
    # Out of 10 hash buckets of events, how many go to the eval split.
    eval_buckets: int = 2
    # Blessing: floors every candidate must pass; AUC must also be no worse
    # than the last blessed model's.
    min_auc: float = 0.75
    min_ams: float = 1.0
    schema_dir: str = SCHEMA_DIR
    # Off by default: functions are passed by module path, so TFX cannot tell
    # when their code changed and would reuse stale outputs.
    enable_cache: bool = False
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)


def train_eval_split(eval_buckets: int) -> tfx.proto.Output:
    """Splits training events 10 - eval_buckets : eval_buckets by EventId's hash.

    Hashing the EventId, rather than the whole encoded event, puts an event in
    the same split in every run.
    """
    return tfx.proto.Output(
        split_config=tfx.proto.SplitConfig(
            splits=[
                tfx.proto.SplitConfig.Split(
                    name="train", hash_buckets=10 - eval_buckets
                ),
                tfx.proto.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
            ],
            partition_feature_name=challenge.EVENT_ID,
        )
    )


def _member_count(text: str) -> int:
    count = int(text)
    if count < 2:
        raise argparse.ArgumentTypeError(
            f"{count}: each member is held out from its own share of the train "
            "split, so the model needs at least 2"
        )
    return count


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options both runners take for what is trained and how."""
    parser.add_argument("--model", choices=network.MODEL_TYPES, default="lstm")
    parser.add_argument(
        "--members",
        type=_member_count,
        default=network.DEFAULT_MEMBERS,
        help="how many networks the model averages, each held out from its "
        "own share of the train split (at least 2)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=trainer.DEFAULT_EPOCHS,
        help="the most epochs each member trains for; training stops earlier "
        "once its held-out loss no longer falls",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=trainer.DEFAULT_BATCH_SIZE,
        help="events per batch and per replica",
    )
    parser.add_argument("--seed", type=int, default=0)


def training_settings(args: argparse.Namespace) -> dict:
    """The PipelineSettings fields set by add_training_arguments' options."""
    return dict(
        model_type=args.model,
        members=args.members,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def eval_config(min_auc: float, min_ams: float) -> tfma.EvalConfig:
    """Metrics on the eval split and the thresholds a candidate must meet."""
    no_worse = tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -1e-10}
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=trainer.SERVING_SIGNATURE,
                preprocessing_function_names=[trainer.TRANSFORM_SIGNATURE],
                label_key=preprocessing.LABEL_KEY,
                prediction_key=trainer.PREDICTION_KEY,
                example_weight_key=preprocessing.WEIGHT_KEY,
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            # AUC and accuracy count every event once, as usual for a classifier.
            tfma.MetricsSpec(
                example_weights=tfma.ExampleWeightOptions(unweighted=True),
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="AUC",
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(
                                lower_bound={"value": min_auc}
                            ),
                            change_threshold=no_worse,
                        ),
                    ),
                    tfma.MetricConfig(class_name="BinaryAccuracy"),
                ],
            ),
            # AMS is a weighted quantity by definition.
            tfma.MetricsSpec(
                example_weights=tfma.ExampleWeightOptions(weighted=True),
                metrics=[
                    tfma.MetricConfig(
                        class_name="AMS",
                        module=AMS_METRIC_MODULE,
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(
                                lower_bound={"value": min_ams}
                            )
                        ),
                    )
                ],
            ),
        ],
    )


def create_pipeline(
    settings: PipelineSettings,
    metadata_connection_config=None,
    trainer_component=tfx.components.Trainer,
    trainer_custom_config: dict | None = None,
) -> tfx.dsl.Pipeline:
    """Wires the components.

    Args:
      settings: the run's data, destinations and choices.
      metadata_connection_config: where ML Metadata lives; None for the
        orchestrator's default.
      trainer_component: the Trainer class; a cloud runner passes one that
        trains on Vertex AI.
      trainer_custom_config: extra custom_config for that Trainer.
    """
    training_events = challenge_example_gen(
        settings.train_data,
        labelled=True,
        output_config=train_eval_split(settings.eval_buckets),
    ).with_id("TrainingExampleGen")
    test_events = challenge_example_gen(settings.test_data, labelled=False).with_id(
        "TestExampleGen"
    )

    statistics = tfx.components.StatisticsGen(
        examples=training_events.outputs["examples"]
    )
    schema = tfx.components.ImportSchemaGen(
        schema_file=os.path.join(settings.schema_dir, "schema.pbtxt")
    )
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
    )
    anomaly_gate = AnomalyGate(anomalies=validator.outputs["anomalies"])

    transform = tfx.components.Transform(
        examples=training_events.outputs["examples"],
        schema=schema.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(
            analyze=["train"], transform=["train", "eval"]
        ),
    )
    # Nothing is transformed or trained from events that failed validation.
    transform.add_upstream_node(anomaly_gate)

    train_args = tfx.proto.TrainArgs(num_steps=settings.train_steps or 0)
    model_trainer = trainer_component(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        train_args=train_args,
        eval_args=tfx.proto.EvalArgs(num_steps=0),
        custom_config={
            trainer.MODEL_TYPE_KEY: settings.model_type,
            trainer.MEMBERS_KEY: settings.members,
            trainer.EPOCHS_KEY: settings.epochs,
            trainer.BATCH_SIZE_KEY: settings.batch_size,
            trainer.SEED_KEY: settings.seed,
            **(trainer_custom_config or {}),
        },
    )

    last_blessed_model = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("LastBlessedModel")

    evaluator = tfx.components.Evaluator(
        examples=training_events.outputs["examples"],
        model=model_trainer.outputs["model"],
        baseline_model=last_blessed_model.outputs["model"],
        eval_config=eval_config(settings.min_auc, settings.min_ams),
        example_splits=["eval"],
    )
    pusher = tfx.components.Pusher(
        model=model_trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=settings.serving_model_dir
            )
        ),
    )
    submission = SubmissionWriter(
        test_examples=test_events.outputs["examples"],
        model=model_trainer.outputs["model"],
        blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        baseline_model=last_blessed_model.outputs["model"],
        submission_path=settings.submission_path,
    )

    return tfx.dsl.Pipeline(
        pipeline_name=settings.pipeline_name,
        pipeline_root=settings.pipeline_root,
        components=[
            training_events,
            test_events,
            statistics,
            schema,
            validator,
            anomaly_gate,
            transform,
            model_trainer,
            last_blessed_model,
            evaluator,
            pusher,
            submission,
        ],
        enable_cache=settings.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=settings.beam_pipeline_args,
    )
