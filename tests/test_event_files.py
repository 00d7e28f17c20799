"""Reading each input format, and the errors bad files stop with."""

import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from components import event_files
from components.event_files import EventFileError
from pipeline import challenge, generate_data


def _table(path: str, labelled: bool = True) -> pd.DataFrame:
    batches = list(event_files.read_record_batches(path, labelled))
    frame = pa.Table.from_batches(batches).to_pandas()
    # One value per cell: unwrap the list columns.
    return frame.apply(lambda column: column.map(lambda cell: cell[0]))


@pytest.fixture
def kaggle_files(tmp_path):
    return generate_data.write_challenge_files(str(tmp_path), 120, 30, seed=3)


def _rewrite(path: str, target: str, edit) -> str:
    with open(path) as handle:
        lines = handle.read().splitlines()
    lines = edit(lines)
    with open(target, "w") as handle:
        handle.write("\n".join(lines) + ("\n" if lines else ""))
    return target


def _set_cell(lines: list[str], line_number: int, column: str, value: str):
    header = lines[0].split(",")
    cells = lines[line_number - 1].split(",")
    cells[header.index(column)] = value
    lines[line_number - 1] = ",".join(cells)
    return lines


def test_kaggle_training_csv_is_read_value_for_value(kaggle_files):
    training, _ = kaggle_files
    expected = pd.read_csv(training)
    read = _table(training)

    assert list(read.columns) == [
        challenge.EVENT_ID,
        *challenge.FLOAT_FEATURES,
        challenge.JET_COUNT,
        challenge.WEIGHT,
        challenge.LABEL,
    ]
    assert len(read) == len(expected) == 120
    np.testing.assert_array_equal(
        read[challenge.EVENT_ID], expected[challenge.EVENT_ID]
    )
    for feature in challenge.FLOAT_FEATURES:
        np.testing.assert_allclose(read[feature], expected[feature], rtol=1e-6)
    np.testing.assert_array_equal(
        read[challenge.JET_COUNT], expected[challenge.JET_COUNT]
    )
    assert read[challenge.JET_COUNT].dtype == np.int64
    np.testing.assert_allclose(
        read[challenge.WEIGHT], expected[challenge.WEIGHT], rtol=1e-6
    )
    assert [label.decode() for label in read[challenge.LABEL]] == list(
        expected[challenge.LABEL]
    )


def test_kaggle_zip_reads_like_the_csv_inside_it(kaggle_files, tmp_path):
    training, _ = kaggle_files
    archive = tmp_path / "training.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(training, "training.csv")

    pd.testing.assert_frame_equal(_table(str(archive)), _table(training))


def test_kaggle_test_csv_has_no_label_or_weight(kaggle_files):
    _, test = kaggle_files
    read = _table(test, labelled=False)
    assert challenge.LABEL not in read and challenge.WEIGHT not in read
    assert len(read) == 30
    np.testing.assert_array_equal(
        read[challenge.EVENT_ID], pd.read_csv(test)[challenge.EVENT_ID]
    )


def test_open_data_keeps_training_set_events_with_their_kaggle_weight(tmp_path):
    header = ",".join(challenge.OPEN_DATA_COLUMNS)
    features = ",".join(["1.5"] * 22 + ["2"] + ["1.5"] * 7)
    lines = [
        header,
        f"1,{features},0.10,s,t,2.50",
        f"2,{features},0.20,b,b,3.50",  # public leaderboard: not training data
        f"3,{features},0.30,b,t,4.50",
    ]
    path = tmp_path / "atlas-higgs-challenge-2014-v2.csv"
    path.write_text("\n".join(lines) + "\n")

    read = _table(str(path))
    assert list(read[challenge.EVENT_ID]) == [1, 3]
    np.testing.assert_allclose(read[challenge.WEIGHT], [2.5, 4.5])
    assert list(read[challenge.LABEL]) == [b"s", b"b"]
    assert challenge.KAGGLE_SET not in read


def test_the_real_sample_is_read_whole(real_sample):
    read = _table(real_sample)
    raw = pd.read_csv(real_sample)
    assert len(read) == 5998
    np.testing.assert_allclose(
        read[challenge.WEIGHT], raw[challenge.KAGGLE_WEIGHT], rtol=1e-6
    )
    assert (read[challenge.DERIVED_FEATURES[0]] == challenge.MISSING_VALUE).any()


def test_missing_column_is_named(kaggle_files, tmp_path):
    training, _ = kaggle_files
    frame = pd.read_csv(training).drop(columns=["PRI_tau_eta"])
    path = tmp_path / "no_tau_eta.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        EventFileError, match=r"no_tau_eta\.csv: missing column\(s\) PRI_tau_eta"
    ):
        list(event_files.read_record_batches(str(path), True))


def test_test_file_given_as_training_data_lacks_label_and_weight(kaggle_files):
    _, test = kaggle_files
    with pytest.raises(EventFileError, match="missing column.*Weight, Label"):
        list(event_files.read_record_batches(test, True))


@pytest.mark.parametrize(
    "line, column, value, message",
    [
        (57, "DER_pt_h", "12.3abc", r"line 57, column DER_pt_h: '12\.3abc' is not a"),
        (9, "Label", "signal", r"line 9, column Label: 'signal' is not a label"),
        (4, "PRI_jet_num", "4", r"line 4, column PRI_jet_num: '4' is not an integer"),
        (3, "Weight", "-1.0", r"line 3, column Weight: weight -1.0 is not positive"),
        (5, "EventId", "", r"line 5, column EventId: '' is not a finite number"),
    ],
)
def test_bad_cell_names_file_line_and_column(
    kaggle_files, tmp_path, line, column, value, message
):
    training, _ = kaggle_files
    path = _rewrite(
        training,
        str(tmp_path / "bad_cell.csv"),
        lambda lines: _set_cell(lines, line, column, value),
    )
    with pytest.raises(EventFileError, match=r"bad_cell\.csv " + message):
        list(event_files.read_record_batches(path, True))


def test_error_line_numbers_count_across_chunks(kaggle_files, tmp_path, monkeypatch):
    monkeypatch.setattr(event_files, "CHUNK_ROWS", 7)
    training, _ = kaggle_files
    path = _rewrite(
        training,
        str(tmp_path / "late_bad_value.csv"),
        lambda lines: _set_cell(lines, 100, "PRI_met", "nan"),
    )
    with pytest.raises(EventFileError, match=r"line 100, column PRI_met: 'nan'"):
        list(event_files.read_record_batches(path, True))


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(EventFileError, match=r"empty\.csv: the file is empty"):
        list(event_files.read_record_batches(str(path), True))


def test_header_without_events_is_named(tmp_path):
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(challenge.TRAINING_COLUMNS) + "\n")
    with pytest.raises(EventFileError, match=r"header_only\.csv: no events"):
        list(event_files.read_record_batches(str(path), True))


def test_zip_without_a_single_csv_is_named(tmp_path):
    path = tmp_path / "training.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("readme.txt", "no events here")
    with pytest.raises(
        EventFileError, match=r"training\.zip: expected exactly one \.csv"
    ):
        list(event_files.read_record_batches(str(path), True))


def test_duplicated_column_is_named(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text(",".join([*challenge.TRAINING_COLUMNS, "PRI_met"]) + "\n")
    with pytest.raises(EventFileError, match="PRI_met appear twice"):
        list(event_files.read_record_batches(str(path), True))
