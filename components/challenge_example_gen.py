"""ExampleGen for the challenge's event files: CSV or zip in, checked tf.Examples."""

import functools
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.example_gen.base_example_gen_executor import (
    BaseExampleGenExecutor,
)
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx_bsl.coders import example_coder

from components import event_files


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _EventFileToExamples(
    pipeline: beam.Pipeline,
    exec_properties: dict[str, Any],
    split_pattern: str,
    labelled: bool,
) -> beam.pvalue.PCollection:
    """Reads the event files of one split as tf.Examples."""
    pattern = os.path.join(exec_properties["input_base"], split_pattern)
    paths = sorted(tf.io.gfile.glob(pattern))
    if not paths:
        raise event_files.EventFileError(f"no event file matches {pattern}")

    # Headers are checked now, while the pipeline is built, so that a wrong
    # file fails in seconds rather than after Beam has started.
    for path in paths:
        event_files.file_layout(event_files.read_header(path), path, labelled)

    return (
        pipeline
        | "EventFiles" >> beam.Create(paths)
        # A zip cannot be split, and a CSV chunk is parsed far faster by pandas
        # than row by row, so each file is read whole by one worker.
        | "ReadEvents"
        >> beam.FlatMap(lambda path: event_files.read_record_batches(path, labelled))
        | "EncodeExamples" >> beam.FlatMap(example_coder.RecordBatchToExamples)
        # As protos, not bytes: the encoder's bytes for one event can differ
        # from process to process, and TFX splits bytes by their hash, while
        # a proto can be split by its EventId, the same in every run.
        | "ParseExamples" >> beam.Map(tf.train.Example.FromString)
    )


class LabelledEventsExecutor(BaseExampleGenExecutor):
    """Turns training event files (with Label and Weight) into tf.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return functools.partial(_EventFileToExamples, labelled=True)


class UnlabelledEventsExecutor(BaseExampleGenExecutor):
    """Turns test event files (EventId and features only) into tf.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return functools.partial(_EventFileToExamples, labelled=False)


def challenge_example_gen(
    event_file: str, labelled: bool, output_config=None
) -> FileBasedExampleGen:
    """An ExampleGen reading one event file (CSV or zip, local or on GCS).

    Args:
      event_file: the file's path.
      labelled: True for training events, which must carry Label and Weight.
      output_config: how to split the events (an `example_gen_pb2.Output`);
        None keeps them in one split, "train" or "test" after `labelled`.
    """
    split_name = "train" if labelled else "test"
    input_config = tfx.proto.Input(
        splits=[
            tfx.proto.Input.Split(name=split_name, pattern=os.path.basename(event_file))
        ]
    )
    if "://" not in event_file:
        event_file = os.path.abspath(event_file)
    return FileBasedExampleGen(
        input_base=os.path.dirname(event_file),
        input_config=input_config,
        # An empty Output keeps the input's one split; None would mean TFX's
        # default 2:1 train/eval split.
        output_config=output_config or tfx.proto.Output(),
        custom_executor_spec=executor_spec.BeamExecutorSpec(
            LabelledEventsExecutor if labelled else UnlabelledEventsExecutor
        ),
    )
