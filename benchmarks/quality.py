"""K-fold comparison on real events: the classic recipe, XGBoost, our LSTM and GRU.

    .venv/bin/python -m benchmarks.quality [--data CSV] [--folds 5] [--seeds 0 2]

Each seed splits the events into k stratified folds (and seeds the training);
with several seeds the figures cover every fold of every split, which tames
the large fold-to-fold noise of AMS on a few thousand events. Prints one table
of AUC and AMS (mean and spread over all folds) and writes the figures, per
split and overall, to a JSON file.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
import tf_keras as keras
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
from tfx.utils import io_utils

from components import event_files
from models import network, preprocessing, trainer
from pipeline import challenge, scoring
from pipeline.pipeline import SCHEMA_DIR

DEFAULT_DATA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "..",
    "shared",
    "data",
    "atlas-higgs-sample.csv",
)
DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "quality.json")
APPROACHES = ("classic", "xgboost", "lstm", "gru")


def load_events(path: str) -> pd.DataFrame:
    """The labelled events of a challenge file, read as the pipeline ingests them.

    The pipeline's own reader checks every value and, for the CERN Open Data
    file, keeps only Kaggle's training events and their KaggleWeight.
    """
    table = pa.Table.from_batches(list(event_files.read_record_batches(path, True)))
    frame = pd.DataFrame(
        {
            name: column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    )
    frame[challenge.LABEL] = frame[challenge.LABEL].map(bytes.decode)
    return frame


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame[challenge.LABEL] == challenge.SIGNAL_LABEL).to_numpy(np.int64)


def _raw_schema() -> schema_pb2.Schema:
    """The curated schema that the pipeline validates and transforms events with."""
    return io_utils.parse_pbtxt_file(
        os.path.join(SCHEMA_DIR, "schema.pbtxt"), schema_pb2.Schema()
    )


def _raw_feature_spec() -> dict:
    return schema_utils.schema_as_feature_spec(_raw_schema()).feature_spec


def _raw_tensors(frame: pd.DataFrame) -> dict[str, tf.Tensor]:
    """A frame of events as the [events, 1] tensors parsing tf.Examples gives."""
    tensors = {}
    for name, spec in _raw_feature_spec().items():
        column = frame[name].to_numpy()
        if spec.dtype == tf.string:
            column = column.astype(bytes)
        tensors[name] = tf.constant(column.reshape(-1, 1), dtype=spec.dtype)
    return tensors


def fit_transform(train: pd.DataFrame, others: list[pd.DataFrame], temp_dir: str):
    """Analyses the training events with the pipeline's preprocessing_fn.

    Then transforms every frame through the resulting Transform graph, the one
    the served model carries, and returns the model's inputs, labels,
    weights and EventIds for each.
    """
    schema = _raw_schema()
    metadata = dataset_metadata.DatasetMetadata(schema)
    raw_feature_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    instances = [
        {
            name: np.array(
                [row[name]],
                dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype,
            )
            for name, spec in raw_feature_spec.items()
        }
        for row in train.assign(
            **{challenge.LABEL: train[challenge.LABEL].astype(bytes)}
        ).to_dict("records")
    ]
    output_dir = os.path.join(temp_dir, "transform_output")
    with tft_beam.Context(temp_dir=os.path.join(temp_dir, "tft")):
        transform_fn = (instances, metadata) | tft_beam.AnalyzeDataset(
            preprocessing.preprocessing_fn
        )
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    transform_output = tft.TFTransformOutput(output_dir)

    transformed = []
    for frame in [train, *others]:
        outputs = transform_output.transform_raw_features(_raw_tensors(frame))
        transformed.append(
            (
                {name: outputs[name].numpy() for name in network.input_names()},
                outputs[preprocessing.LABEL_KEY].numpy(),
                outputs[preprocessing.WEIGHT_KEY].numpy(),
                outputs[preprocessing.EVENT_ID_KEY].numpy(),
            )
        )
    return transformed


def _dataset(inputs, labels, weights=None, batch_size=128, seed=None):
    parts = (inputs, labels) if weights is None else (inputs, labels, weights)
    dataset = tf.data.Dataset.from_tensor_slices(parts)
    if seed is not None:
        dataset = dataset.shuffle(len(labels), seed=seed)
    return dataset.batch(batch_size)


def run_network(model_type, train, test, args, seed):
    """Trains the project's network as run_fn does, cross-fitted on `train`.

    Returns the out-of-fold scores of the training events, from which the cut
    is chosen, the test scores, and each member's test scores ([events,
    members]).
    """
    keras.utils.set_random_seed(seed)
    model = network.build_model(model_type, args.members)
    inputs, labels, weights, event_ids = train
    held_out = trainer.held_out_members(event_ids, args.members).numpy()
    scaled = None
    if args.weighted:
        scales = trainer.class_scales(labels, weights)
        scaled = weights * np.where(labels > 0.5, scales[1], scales[0])

    def fold_datasets(member):
        def part(keep, **options):
            return _dataset(
                {name: values[keep] for name, values in inputs.items()},
                labels[keep],
                **options,
            )

        learns = held_out != member
        return (
            part(
                learns,
                weights=None if scaled is None else scaled[learns],
                batch_size=args.batch_size,
                seed=seed + member,
            ),
            part(~learns, batch_size=1024),
        )

    trainer.cross_fit(model, fold_datasets, args.epochs, args.patience, verbose=0)
    return (
        trainer.out_of_fold_scores(model, inputs, held_out),
        model.predict(test[0], batch_size=1024, verbose=0).reshape(-1),
        trainer.member_scores(model, test[0]),
    )


def _raw_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(challenge.FEATURES)].to_numpy(np.float32)


def run_xgboost(train: pd.DataFrame, test: pd.DataFrame, seed: int):
    """XGBoost on the raw features, with its cut chosen on out-of-fold scores.

    Returns the test scores, the cut (the best AMS of the out-of-fold scores
    of a 5-fold split of `train`) and those out-of-fold scores.
    """
    from xgboost import XGBClassifier

    def model():
        return XGBClassifier(
            n_estimators=300,
            max_depth=4,
            learning_rate=0.05,
            subsample=0.8,
            colsample_bytree=0.8,
            missing=challenge.MISSING_VALUE,
            random_state=seed,
            n_jobs=2,
        )

    features, labels = _raw_matrix(train), _labels(train)
    weights = train[challenge.WEIGHT].to_numpy()
    out_of_fold = np.zeros(len(labels))
    inner = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for fit_index, score_index in inner.split(features, labels):
        booster = model().fit(features[fit_index], labels[fit_index])
        out_of_fold[score_index] = booster.predict_proba(features[score_index])[:, 1]
    cut, _ = scoring.best_cut(out_of_fold, labels, weights)
    booster = model().fit(features, labels)
    return booster.predict_proba(_raw_matrix(test))[:, 1], cut, out_of_fold


def run_classic(train: pd.DataFrame, test: pd.DataFrame, args, seed: int):
    """The classic notebook recipe, reproduced: normalised rows, MSLE, cut 0.5."""
    keras.utils.set_random_seed(seed)

    def rows(frame):
        # Each event's 30 values, -999.0 included, scaled to unit L2 norm.
        return normalize(_raw_matrix(frame)).reshape(-1, len(challenge.FEATURES), 1)

    model = keras.Sequential(
        [
            keras.Input(shape=(len(challenge.FEATURES), 1)),
            keras.layers.LSTM(60, return_sequences=True, recurrent_dropout=0.1),
            keras.layers.LSTM(60, recurrent_dropout=0.1),
            keras.layers.Dense(128),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1),
            keras.layers.LeakyReLU(),
        ]
    )
    model.compile(optimizer="adam", loss=keras.losses.MeanSquaredLogarithmicError())
    model.fit(
        rows(train),
        _labels(train).astype(np.float32),
        batch_size=args.batch_size,
        epochs=args.classic_epochs,
        verbose=0,
    )
    return model.predict(rows(test), batch_size=1024, verbose=0).reshape(-1), 0.5


def _figures(scores, test: pd.DataFrame, cut: float) -> dict:
    labels, weights = _labels(test), test[challenge.WEIGHT].to_numpy()
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "ams": float(scoring.ams_at_cut(scores, labels, weights, cut)),
        "cut": float(cut),
    }


def _networks_cut(out_of_fold, labels, weights, test_scores) -> float:
    """The cut on the test scores that the pipeline's rule gives.

    The share is chosen on the training events' out-of-fold scores (with
    their labels and weights), as run_fn chooses it, and the test fold's cut
    selects that share of it, as the SubmissionWriter does with the test
    events.
    """
    share, _, _ = trainer.choose_share(out_of_fold, labels, weights)
    return scoring.cut_for_share(test_scores, share)


def _keep_scores(directory, name, train, test, test_scores, **more) -> None:
    """Writes one approach's scores on a fold, with labels and weights, to .npz.

    With them, other cut rules can be studied without training again.
    """
    os.makedirs(directory, exist_ok=True)
    np.savez_compressed(
        os.path.join(directory, f"{name}.npz"),
        train_labels=_labels(train),
        train_weights=train[challenge.WEIGHT].to_numpy(),
        test_labels=_labels(test),
        test_weights=test[challenge.WEIGHT].to_numpy(),
        test_scores=test_scores,
        **more,
    )


def run_fold(train, test, args, seed, temp_dir, scores_dir=None) -> dict:
    """Every approach trained on `train` and scored on `test`.

    With scores_dir, each approach's scores are also kept there (see
    _keep_scores).
    """
    results = {}
    if "classic" in args.approaches:
        scores, cut = run_classic(train, test, args, seed)
        results["classic"] = _figures(scores, test, cut)
    if "xgboost" in args.approaches:
        scores, cut, out_of_fold = run_xgboost(train, test, seed)
        results["xgboost"] = _figures(scores, test, cut)
        networks_cut = _networks_cut(
            out_of_fold, _labels(train), train[challenge.WEIGHT].to_numpy(), scores
        )
        results["xgboost_networks_rule"] = _figures(scores, test, networks_cut)
        if scores_dir:
            _keep_scores(
                scores_dir, "xgboost", train, test, scores, out_of_fold=out_of_fold
            )

    # The networks learn from the whole training fold, as XGBoost does: they
    # are cross-fitted, so no events need setting aside for stopping or the cut.
    fitted, scored = fit_transform(train, [test], temp_dir)
    for model_type in network.MODEL_TYPES:
        if model_type not in args.approaches:
            continue
        out_of_fold, test_scores, each_member = run_network(
            model_type, fitted, scored, args, seed
        )
        results[model_type] = _figures(
            test_scores,
            test,
            _networks_cut(out_of_fold, fitted[1], fitted[2], test_scores),
        )
        if scores_dir:
            # The Transform keeps the training events in order, so these line
            # up with train_labels and train_weights.
            _keep_scores(
                scores_dir,
                model_type,
                train,
                test,
                test_scores,
                out_of_fold=out_of_fold,
                member_test_scores=each_member,
            )
    return results


def summarise(folds: list[dict]) -> dict:
    """Mean, spread and median over the folds of each approach's AUC and AMS.

    The median is there for the AMS: a cut that happens to select almost no
    background in one test fold can give that fold an AMS several times the
    others', which moves the mean far more than the model deserves.
    """
    summary = {}
    for approach in folds[0]:
        summary[approach] = {}
        for figure in ("auc", "ams"):
            values = np.array([fold[approach][figure] for fold in folds])
            summary[approach][figure] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "median": float(np.median(values)),
            }
    return summary


def table(summary: dict) -> str:
    """The summary as a Markdown table."""
    lines = ["| approach | AUC | AMS | AMS median |", "|---|---|---|---|"]
    for approach, figures in summary.items():
        cells = [
            f"{figures[f]['mean']:.3f} ± {figures[f]['std']:.3f}"
            for f in ("auc", "ams")
        ]
        median = figures["ams"]["median"]
        lines.append(f"| {approach} | {cells[0]} | {cells[1]} | {median:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=trainer.DEFAULT_EPOCHS)
    parser.add_argument("--patience", type=int, default=trainer.DEFAULT_PATIENCE)
    parser.add_argument("--members", type=int, default=network.DEFAULT_MEMBERS)
    parser.add_argument("--classic-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=trainer.DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--weighted", action=argparse.BooleanOptionalAction, default=False
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="one k-fold split (and training seed) per value",
    )
    parser.add_argument(
        "--approaches", nargs="+", default=list(APPROACHES), choices=APPROACHES
    )
    parser.add_argument(
        "--scores-dir",
        help="also keep every approach's scores per fold here, as .npz files",
    )
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)
    tf.get_logger().setLevel(logging.ERROR)

    start = time.monotonic()
    events = load_events(args.data)
    splits = []
    with tempfile.TemporaryDirectory() as temp_dir:
        for seed in args.seeds:
            splitter = StratifiedKFold(
                n_splits=args.folds, shuffle=True, random_state=seed
            )
            folds = []
            for index, (train_index, test_index) in enumerate(
                splitter.split(events, _labels(events))
            ):
                fold = run_fold(
                    events.iloc[train_index],
                    events.iloc[test_index],
                    args,
                    seed,
                    os.path.join(temp_dir, f"split_{seed}_fold_{index}"),
                    args.scores_dir
                    and os.path.join(args.scores_dir, f"split_{seed}_fold_{index}"),
                )
                folds.append(fold)
                print(
                    f"split {seed} fold {index}: "
                    + ", ".join(
                        f"{name} AUC {f['auc']:.3f} AMS {f['ams']:.3f}"
                        for name, f in fold.items()
                    ),
                    flush=True,
                )
            splits.append({"seed": seed, "summary": summarise(folds), "folds": folds})
            if len(args.seeds) > 1:
                print(f"split {seed}:\n{table(splits[-1]['summary'])}", flush=True)

    summary = summarise([fold for split in splits for fold in split["folds"]])
    seconds = time.monotonic() - start
    print(table(summary))
    print(
        f"{len(events)} events, {len(splits)} split(s) of {args.folds} folds, "
        f"{seconds:.0f} s"
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(
            {
                "command": "python -m benchmarks.quality "
                + " ".join(argv if argv is not None else sys.argv[1:]),
                "settings": {
                    key: value for key, value in vars(args).items() if key != "data"
                },
                "events": len(events),
                "seconds": round(seconds),
                "summary": summary,
                "splits": splits,
            },
            handle,
            indent=2,
        )


if __name__ == "__main__":
    main()
