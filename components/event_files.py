"""Reads the challenge's event files (Kaggle CSV or zip, CERN Open Data CSV).

Every value is checked on the way in, so that a broken file stops the run with
an error naming the file, the line and the column, before anything downstream
sees it. Events come out as Arrow record batches in Kaggle's training layout
(or test layout), ready to be encoded as `tf.Example`s.
"""

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import tensorflow as tf
from absl import logging

from pipeline import challenge

# Rows parsed at a time: large enough for pandas to be fast, small enough that
# the 550,000 test events never sit in memory as Python strings all at once.
CHUNK_ROWS = 50_000

KAGGLE_TRAINING = "Kaggle training.csv"
KAGGLE_TEST = "Kaggle test.csv"
OPEN_DATA = "CERN Open Data"


class EventFileError(ValueError):
    """An event file that cannot be read as challenge data."""


def file_layout(header: list[str], path: str, labelled: bool) -> str:
    """Tells which of the challenge's layouts a header belongs to.

    Args:
      header: the column names of the file's first line.
      path: the file, for error messages.
      labelled: whether the events must carry a label and a weight.

    Returns:
      One of KAGGLE_TRAINING, KAGGLE_TEST and OPEN_DATA.

    Raises:
      EventFileError: a required column is missing or appears twice.
    """
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise EventFileError(f"{path}: column(s) {', '.join(duplicated)} appear twice")

    if challenge.KAGGLE_SET in header or challenge.KAGGLE_WEIGHT in header:
        layout, required = OPEN_DATA, challenge.OPEN_DATA_COLUMNS
    elif labelled:
        layout, required = KAGGLE_TRAINING, challenge.TRAINING_COLUMNS
    else:
        layout, required = KAGGLE_TEST, challenge.TEST_COLUMNS
    if not labelled:
        # Test events need only their id and features, whatever else the file has.
        required = challenge.TEST_COLUMNS

    missing = [name for name in required if name not in header]
    if missing:
        raise EventFileError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(read as {layout} layout; header has {len(header)} columns)"
        )
    return layout


class _GFileReader(io.RawIOBase):
    """A `tf.io.gfile.GFile` as a standard stream, so pandas and zipfile can read
    from any file system TensorFlow knows (local disk, gs://, ...)."""

    def __init__(self, path: str):
        super().__init__()
        self._file = tf.io.gfile.GFile(path, "rb")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._file.seek(offset, whence)
        return self._file.tell()

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer) -> int:
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def _open_file(path: str) -> BinaryIO:
    return io.BufferedReader(_GFileReader(path), buffer_size=1 << 20)


def _open_binary(path: str, handle: BinaryIO) -> BinaryIO:
    """Returns the CSV stream inside `handle`, looking inside a zip if needed."""
    if not path.lower().endswith(".zip"):
        return handle
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as error:
        raise EventFileError(f"{path}: not a readable zip file ({error})") from None
    members = [
        info.filename
        for info in archive.infolist()
        if info.filename.lower().endswith(".csv") and not info.is_dir()
    ]
    if len(members) != 1:
        raise EventFileError(
            f"{path}: expected exactly one .csv file in the zip, found "
            f"{len(members)} ({', '.join(members) or 'none'})"
        )
    return archive.open(members[0])


def read_header(path: str) -> list[str]:
    """Returns the column names of an event file, checking it is not empty."""
    with _open_file(path) as handle:
        first_line = _open_binary(path, handle).readline().decode("utf-8-sig")
    if not first_line.strip():
        raise EventFileError(f"{path}: the file is empty (no header line)")
    return [name.strip() for name in next(csv.reader([first_line]))]


def _bad_cell(path: str, line: int, column: str, problem: str) -> EventFileError:
    return EventFileError(f"{path} line {line}, column {column}: {problem}")


def _numeric_column(
    frame: pd.DataFrame, column: str, path: str, lines: np.ndarray
) -> np.ndarray:
    """Parses one column as finite floats, naming the first bad cell if any."""
    text = frame[column]
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise _bad_cell(
            path, lines[row], column, f"{text.iloc[row]!r} is not a finite number"
        )
    return values


def _integer_column(
    frame: pd.DataFrame, column: str, path: str, lines: np.ndarray, low: int, high: int
) -> np.ndarray:
    values = _numeric_column(frame, column, path, lines)
    bad = (values != np.round(values)) | (values < low) | (values > high)
    if bad.any():
        row = int(np.argmax(bad))
        raise _bad_cell(
            path,
            lines[row],
            column,
            f"{frame[column].iloc[row]!r} is not an integer from {low} to {high}",
        )
    return values.astype(np.int64)


def _as_list_array(values: np.ndarray, arrow_type: pa.DataType) -> pa.ListArray:
    """One value per event, as the list column that tf.Example encoding expects."""
    offsets = np.arange(len(values) + 1, dtype=np.int32)
    return pa.ListArray.from_arrays(offsets, pa.array(values, type=arrow_type))


def _chunk_to_record_batch(
    frame: pd.DataFrame, path: str, first_line: int, layout: str, labelled: bool
) -> pa.RecordBatch | None:
    """Validates one chunk of rows; returns it as Arrow, or None if none is kept."""
    lines = first_line + np.arange(len(frame))
    if layout == OPEN_DATA and labelled:
        # The open-data file holds every challenge set; only Kaggle's training
        # events carry the weights the challenge trained on.
        keep = frame[challenge.KAGGLE_SET].str.strip() == challenge.KAGGLE_TRAINING_SET
        keep = keep.to_numpy()
        frame, lines = frame[keep], lines[keep]
        if frame.empty:
            return None

    columns = {
        challenge.EVENT_ID: _as_list_array(
            _integer_column(
                frame, challenge.EVENT_ID, path, lines, 0, np.iinfo(np.int64).max
            ),
            pa.int64(),
        )
    }
    for feature in challenge.FLOAT_FEATURES:
        values = _numeric_column(frame, feature, path, lines)
        columns[feature] = _as_list_array(values.astype(np.float32), pa.float32())
    jets = _integer_column(
        frame, challenge.JET_COUNT, path, lines, 0, challenge.MAX_JET_COUNT
    )
    columns[challenge.JET_COUNT] = _as_list_array(jets, pa.int64())

    if labelled:
        weight_column = (
            challenge.KAGGLE_WEIGHT if layout == OPEN_DATA else challenge.WEIGHT
        )
        weights = _numeric_column(frame, weight_column, path, lines)
        if (weights <= 0).any():
            row = int(np.argmax(weights <= 0))
            raise _bad_cell(
                path,
                lines[row],
                weight_column,
                f"weight {weights[row]!r} is not positive",
            )
        labels = frame[challenge.LABEL].str.strip().to_numpy(dtype=object)
        bad = ~np.isin(labels, [challenge.SIGNAL_LABEL, challenge.BACKGROUND_LABEL])
        if bad.any():
            row = int(np.argmax(bad))
            raise _bad_cell(
                path,
                lines[row],
                challenge.LABEL,
                f"{frame[challenge.LABEL].iloc[row]!r} is not a label "
                f"('{challenge.SIGNAL_LABEL}' or '{challenge.BACKGROUND_LABEL}')",
            )
        columns[challenge.WEIGHT] = _as_list_array(
            weights.astype(np.float32), pa.float32()
        )
        columns[challenge.LABEL] = _as_list_array(
            np.array([label.encode() for label in labels], dtype=object), pa.binary()
        )

    return pa.RecordBatch.from_arrays(list(columns.values()), list(columns))


def read_record_batches(path: str, labelled: bool) -> Iterator[pa.RecordBatch]:
    """Reads and checks every event of one file, a chunk of rows at a time.

    Args:
      path: a CSV or zip file, local or on any file system TensorFlow reads.
      labelled: True for training events (label and weight required).

    Yields:
      Arrow record batches with EventId, the 30 features and, when labelled,
      Weight and Label, one value per cell.

    Raises:
      EventFileError: the file is empty, lacks a column, or has a bad value;
        the message names the file, the line and the column.
    """
    header = read_header(path)
    layout = file_layout(header, path, labelled)
    kept = 0
    with _open_file(path) as handle:
        stream = _open_binary(path, handle)
        reader = pd.read_csv(
            stream,
            dtype=str,
            keep_default_na=False,
            chunksize=CHUNK_ROWS,
            skipinitialspace=True,
        )
        first_line = 2
        try:
            for frame in reader:
                frame.columns = [name.strip() for name in frame.columns]
                batch = _chunk_to_record_batch(
                    frame, path, first_line, layout, labelled
                )
                first_line += len(frame)
                if batch is not None:
                    kept += batch.num_rows
                    yield batch
        except pd.errors.ParserError as error:
            raise EventFileError(f"{path}: malformed CSV ({error})") from None
    if kept == 0:
        raise EventFileError(f"{path}: no events to read ({layout} layout)")
    logging.info("Read %d events from %s (%s layout)", kept, path, layout)
