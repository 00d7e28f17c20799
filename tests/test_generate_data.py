"""Tests of the simulated challenge-format event files."""

import logging
import os

import numpy as np
import pandas as pd
import pytest

from pipeline import challenge, generate_data

N_TRAINING = 4000
N_TEST = 2000
SEED = 7

# Derived values are rounded to 3 decimals from exact rounded primitives.
ROUNDING = 5e-4 + 1e-9


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    output_dir = str(tmp_path_factory.mktemp("events") / "new")
    return generate_data.write_challenge_files(output_dir, N_TRAINING, N_TEST, SEED)


@pytest.fixture(scope="module")
def training(files):
    return read_events(files[0])


@pytest.fixture(scope="module")
def test_events(files):
    return read_events(files[1])


def read_events(path):
    # Exact parsing, so that weights and sums compare without parser rounding.
    return pd.read_csv(path, float_precision="round_trip")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def rank_auc(labels, scores):
    """Area under the ROC curve from mid-ranks (Mann-Whitney U)."""
    labels = np.asarray(labels, dtype=bool)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    mid_ranks = (upper - (counts - 1) / 2)[inverse]
    n_positive, n_negative = labels.sum(), (~labels).sum()
    u = mid_ranks[labels].sum() - n_positive * (n_positive + 1) / 2
    return u / (n_positive * n_negative)


def present(values):
    return np.where(values == challenge.MISSING_VALUE, 0.0, values)


def test_rank_auc_helper():
    assert rank_auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert rank_auc([1, 1, 0, 0], [1, 2, 3, 4]) == 0.0
    assert rank_auc([0, 1, 0, 1], [5, 5, 5, 5]) == 0.5


def test_files_are_written_where_asked(files):
    training_path, test_path = files
    assert os.path.basename(training_path) == "training.csv"
    assert os.path.basename(test_path) == "test.csv"
    assert os.path.dirname(training_path) == os.path.dirname(test_path)


def test_headers_are_kaggle_columns(files):
    with open(files[0]) as f:
        assert f.readline().rstrip("\n").split(",") == list(challenge.TRAINING_COLUMNS)
    with open(files[1]) as f:
        assert f.readline().rstrip("\n").split(",") == list(challenge.TEST_COLUMNS)


def test_event_counts_and_ids(training, test_events):
    assert len(training) == N_TRAINING
    assert len(test_events) == N_TEST
    np.testing.assert_array_equal(
        training[challenge.EVENT_ID], 100_000 + np.arange(N_TRAINING)
    )
    np.testing.assert_array_equal(
        test_events[challenge.EVENT_ID], 100_000 + N_TRAINING + np.arange(N_TEST)
    )


def test_values_are_written_like_kaggle(files):
    with open(files[0]) as f:
        lines = f.read().splitlines()[1:]
    columns = challenge.TRAINING_COLUMNS
    jet_num_column = columns.index(challenge.JET_COUNT)
    weight_column = columns.index(challenge.WEIGHT)
    jet_all_pt_column = columns.index("PRI_jet_all_pt")
    saw_missing = saw_no_jets = False
    for line in lines:
        values = line.split(",")
        assert len(values) == len(columns)
        assert values[jet_num_column] in {"0", "1", "2", "3"}
        for index in range(1, len(columns) - 2):
            if index == jet_num_column:
                continue
            whole, _, decimals = values[index].partition(".")
            assert whole.lstrip("-").isdigit() and len(decimals) <= 3, values[index]
        assert "." in values[weight_column]
        saw_missing |= "-999.0" in values
        if values[jet_num_column] == "0":
            assert values[jet_all_pt_column] == "0.0"
            saw_no_jets = True
    assert saw_missing and saw_no_jets


def test_labels_and_signal_share(training):
    assert set(training[challenge.LABEL]) == {"s", "b"}
    signal_share = (training[challenge.LABEL] == "s").mean()
    assert 0.29 < signal_share < 0.39


def test_weights_match_the_challenge_totals(training):
    weights = training[challenge.WEIGHT].to_numpy()
    signal = (training[challenge.LABEL] == "s").to_numpy()
    scale = N_TRAINING / challenge.KAGGLE_TRAINING_EVENTS
    assert (weights > 0).all()
    assert np.isclose(weights[signal].sum(), challenge.SIGNAL_WEIGHT_TOTAL * scale)
    assert np.isclose(weights[~signal].sum(), challenge.BACKGROUND_WEIGHT_TOTAL * scale)
    # Signal weights are tiny, background ones of order one, as in the challenge.
    assert weights[signal].max() < np.quantile(weights[~signal], 0.01)
    assert 0.001 < np.median(weights[signal]) < 0.02
    assert 0.3 < np.median(weights[~signal]) < 10
    assert len(np.unique(weights[signal])) > 1
    assert len(np.unique(weights[~signal])) > 1


def test_test_file_has_no_label_or_weight(test_events):
    assert challenge.LABEL not in test_events
    assert challenge.WEIGHT not in test_events


@pytest.mark.parametrize("which", ["training", "test_events"])
def test_missing_values_follow_the_jet_count(which, request):
    events = request.getfixturevalue(which)
    jet_num = events[challenge.JET_COUNT].to_numpy()
    assert set(jet_num) == {0, 1, 2, 3}
    for name in challenge.FEATURES:
        missing = (events[name] == challenge.MISSING_VALUE).to_numpy()
        if name in challenge.NEEDS_ONE_JET:
            np.testing.assert_array_equal(missing, jet_num == 0, err_msg=name)
        elif name in challenge.NEEDS_TWO_JETS:
            np.testing.assert_array_equal(missing, jet_num <= 1, err_msg=name)
        elif name != "DER_mass_MMC":
            assert not missing.any(), name
    assert not events.isna().any().any()


def test_jet_count_distribution(training):
    shares = training[challenge.JET_COUNT].value_counts(normalize=True)
    np.testing.assert_allclose(
        shares.sort_index().to_numpy(), [0.40, 0.31, 0.20, 0.09], atol=0.035
    )


def test_scalar_sum_of_jets(training):
    jet_num = training[challenge.JET_COUNT].to_numpy()
    all_pt = training["PRI_jet_all_pt"].to_numpy()
    leading = present(training["PRI_jet_leading_pt"].to_numpy())
    subleading = present(training["PRI_jet_subleading_pt"].to_numpy())
    assert (all_pt[jet_num == 0] == 0).all()
    assert (all_pt >= leading + subleading - 1e-9).all()
    assert (all_pt[jet_num == 3] > (leading + subleading)[jet_num == 3]).all()
    np.testing.assert_allclose(
        all_pt[jet_num <= 2], (leading + subleading)[jet_num <= 2], atol=1e-9
    )
    has_two = jet_num >= 2
    assert (leading[has_two] >= subleading[has_two]).all()


def test_missing_mass_fraction(training):
    missing = training["DER_mass_MMC"] == challenge.MISSING_VALUE
    signal = training[challenge.LABEL] == "s"
    assert 0.10 < missing.mean() < 0.21
    assert missing[signal].mean() < missing[~signal].mean()
    assert (training["DER_mass_MMC"][~missing] > 0).all()


def test_mass_peaks(training):
    mass = training["DER_mass_MMC"]
    signal_mass = mass[(training[challenge.LABEL] == "s") & (mass > 0)]
    background_mass = mass[(training[challenge.LABEL] == "b") & (mass > 0)]
    assert 115 < signal_mass.median() < 135
    # Z -> tautau and W + jets put the background's bulk below the Higgs mass.
    assert background_mass.median() < signal_mass.median() - 15


def test_angles_and_acceptance(training):
    for name in ("PRI_tau_phi", "PRI_lep_phi", "PRI_met_phi"):
        assert training[name].abs().max() <= 3.142
        # Uniform in phi: each half of the circle holds about half the events.
        assert 0.45 < (training[name] > 0).mean() < 0.55
    for name in ("PRI_tau_eta", "PRI_lep_eta"):
        assert training[name].abs().max() <= 2.5
    for name in ("PRI_jet_leading_eta", "PRI_jet_subleading_eta"):
        eta = training[name][training[name] != challenge.MISSING_VALUE]
        assert eta.abs().max() <= 4.5
    assert training["PRI_tau_pt"].min() >= 20
    assert training["PRI_lep_pt"].min() >= 26
    for name in ("PRI_jet_leading_pt", "PRI_jet_subleading_pt"):
        pt = training[name][training[name] != challenge.MISSING_VALUE]
        assert pt.min() >= 30
    assert (training["PRI_met_sumet"] >= training["DER_sum_pt"] - 1e-9).all()


def test_derived_features_agree_with_primitives(training):
    e = {name: training[name].to_numpy() for name in challenge.FEATURES}
    jet_num = e[challenge.JET_COUNT]
    two_jets = jet_num >= 2

    def px_py(prefix):
        pt = present(e[f"{prefix}_pt"])
        phi = e[f"{prefix}_phi"]
        return pt * np.cos(phi), pt * np.sin(phi)

    def four_vector(prefix):
        pt, eta = present(e[f"{prefix}_pt"]), present(e[f"{prefix}_eta"])
        px, py = px_py(prefix)
        return np.stack([pt * np.cosh(eta), px, py, pt * np.sinh(eta)])

    def pair_mass(first, second):
        total = four_vector(first) + four_vector(second)
        return np.sqrt(np.maximum(total[0] ** 2 - (total[1:] ** 2).sum(axis=0), 0))

    tau, lep = np.array(px_py("PRI_tau")), np.array(px_py("PRI_lep"))
    met = np.array([np.cos(e["PRI_met_phi"]), np.sin(e["PRI_met_phi"])])
    met *= e["PRI_met"]
    leading = np.array(px_py("PRI_jet_leading"))
    subleading = np.array(px_py("PRI_jet_subleading"))
    delta_phi = np.angle(np.exp(1j * (e["PRI_tau_phi"] - e["PRI_lep_phi"])))

    expected = {
        "DER_sum_pt": e["PRI_tau_pt"] + e["PRI_lep_pt"] + e["PRI_jet_all_pt"],
        "DER_pt_ratio_lep_tau": e["PRI_lep_pt"] / e["PRI_tau_pt"],
        "DER_deltar_tau_lep": np.hypot(e["PRI_tau_eta"] - e["PRI_lep_eta"], delta_phi),
        "DER_mass_vis": pair_mass("PRI_tau", "PRI_lep"),
        "DER_mass_transverse_met_lep": np.sqrt(
            np.maximum(
                2 * e["PRI_lep_pt"] * e["PRI_met"] - 2 * (lep * met).sum(axis=0),
                0,
            )
        ),
        "DER_pt_h": np.hypot(*(tau + lep + met)),
        "DER_pt_tot": np.hypot(*(tau + lep + met + leading + subleading)),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(e[name], values, rtol=0, atol=ROUNDING, err_msg=name)
    # Without jets, the two transverse momentum sums are the same.
    no_jets = jet_num == 0
    np.testing.assert_array_equal(e["DER_pt_h"][no_jets], e["DER_pt_tot"][no_jets])

    eta_1, eta_2 = e["PRI_jet_leading_eta"], e["PRI_jet_subleading_eta"]
    with_jets = {
        "DER_prodeta_jet_jet": eta_1 * eta_2,
        "DER_deltaeta_jet_jet": np.abs(eta_1 - eta_2),
        "DER_mass_jet_jet": pair_mass("PRI_jet_leading", "PRI_jet_subleading"),
    }
    for name, values in with_jets.items():
        np.testing.assert_allclose(
            e[name][two_jets], values[two_jets], rtol=0, atol=ROUNDING, err_msg=name
        )


def test_centralities_follow_the_papers_formulas(training):
    e = {name: training[name].to_numpy() for name in challenge.FEATURES}
    side = np.sign(np.sin(e["PRI_tau_phi"] - e["PRI_lep_phi"]))
    a = np.sin(e["PRI_met_phi"] - e["PRI_lep_phi"]) * side
    b = np.sin(e["PRI_tau_phi"] - e["PRI_met_phi"]) * side
    defined = np.hypot(a, b) > 1e-6
    a, b = a[defined], b[defined]
    centrality = e["DER_met_phi_centrality"]
    np.testing.assert_allclose(
        centrality[defined], (a + b) / np.hypot(a, b), rtol=0, atol=ROUNDING
    )
    assert (np.abs(centrality) <= np.sqrt(2) + ROUNDING).all()

    two_jets = e[challenge.JET_COUNT] >= 2
    eta_1 = e["PRI_jet_leading_eta"][two_jets]
    eta_2 = e["PRI_jet_subleading_eta"][two_jets]
    lep_eta = e["PRI_lep_eta"][two_jets]
    apart = eta_1 != eta_2
    lep_centrality = np.exp(
        -4 / (eta_1 - eta_2)[apart] ** 2 * (lep_eta - (eta_1 + eta_2) / 2)[apart] ** 2
    )
    np.testing.assert_allclose(
        e["DER_lep_eta_centrality"][two_jets][apart],
        lep_centrality,
        rtol=0,
        atol=ROUNDING,
    )


def test_same_seed_same_files(files, tmp_path):
    again = generate_data.write_challenge_files(str(tmp_path), N_TRAINING, N_TEST, SEED)
    assert read_bytes(again[0]) == read_bytes(files[0])
    assert read_bytes(again[1]) == read_bytes(files[1])


def test_other_seed_other_files(files, tmp_path):
    other = generate_data.write_challenge_files(
        str(tmp_path), N_TRAINING, N_TEST, SEED + 1
    )
    assert read_bytes(other[0]) != read_bytes(files[0])
    assert read_bytes(other[1]) != read_bytes(files[1])


def test_generate_events_is_the_training_file(training):
    events = generate_data.generate_events(N_TRAINING, SEED)
    assert list(events.columns) == list(challenge.TRAINING_COLUMNS[1:])
    pd.testing.assert_frame_equal(
        events.reset_index(drop=True),
        training.drop(columns=challenge.EVENT_ID),
        check_exact=True,
    )
    assert events[challenge.JET_COUNT].dtype == np.int64


def test_test_events_come_from_another_stream(tmp_path):
    # Equal sizes: the same stream would give the same events in both files.
    training_path, test_path = generate_data.write_challenge_files(
        str(tmp_path), n_training=50, n_test=50, seed=SEED
    )
    features = list(challenge.FEATURES)
    training = read_events(training_path)[features].to_numpy()
    test_events = read_events(test_path)[features].to_numpy()
    assert not (training == test_events).all(axis=1).any()


@pytest.mark.parametrize("n_events", [0, 1, 2, 10])
def test_tiny_samples(n_events):
    events = generate_data.generate_events(n_events, 3)
    assert len(events) == n_events
    assert list(events.columns) == list(challenge.TRAINING_COLUMNS[1:])
    assert not events.isna().any().any()
    assert (events[challenge.WEIGHT] > 0).all()
    scale = n_events / challenge.KAGGLE_TRAINING_EVENTS
    for label, total in (
        ("s", challenge.SIGNAL_WEIGHT_TOTAL),
        ("b", challenge.BACKGROUND_WEIGHT_TOTAL),
    ):
        in_class = events[challenge.LABEL] == label
        if in_class.any():
            assert np.isclose(events[challenge.WEIGHT][in_class].sum(), total * scale)


def test_tiny_files(tmp_path):
    training_path, test_path = generate_data.write_challenge_files(
        str(tmp_path / "a" / "b"), n_training=1, n_test=1, seed=0
    )
    training = read_events(training_path)
    test_events = read_events(test_path)
    assert training[challenge.EVENT_ID].tolist() == [100_000]
    assert test_events[challenge.EVENT_ID].tolist() == [100_001]
    assert list(test_events.columns) == list(challenge.TEST_COLUMNS)


def test_rejects_negative_sizes_and_seeds():
    with pytest.raises(ValueError):
        generate_data.generate_events(-1, 0)
    with pytest.raises(ValueError):
        generate_data.generate_events(10, -1)


def test_command_line(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    output_dir = tmp_path / "cli"
    generate_data.main(
        [
            "--output-dir",
            str(output_dir),
            "--training-events",
            "20",
            "--test-events",
            "30",
            "--seed",
            "5",
        ]
    )
    assert len(pd.read_csv(output_dir / "training.csv")) == 20
    assert len(pd.read_csv(output_dir / "test.csv")) == 30
    messages = [record.getMessage() for record in caplog.records]
    assert any("20 training" in m and "30 test" in m for m in messages)


def test_mass_separates_signal_only_in_part(training):
    signal = (training[challenge.LABEL] == "s").to_numpy()
    mass = training["DER_mass_MMC"].to_numpy()
    closeness = np.where(mass == challenge.MISSING_VALUE, -1e9, -np.abs(mass - 125))
    assert 0.6 < rank_auc(signal, closeness) < 0.95


def test_no_single_feature_gives_the_answer_away(training):
    signal = (training[challenge.LABEL] == "s").to_numpy()
    for name in challenge.FEATURES:
        auc = rank_auc(signal, training[name].to_numpy())
        assert max(auc, 1 - auc) < 0.8, name


def classifier_inputs(events):
    mass = events["DER_mass_MMC"].to_numpy()
    has_mass = mass != challenge.MISSING_VALUE
    columns = [
        has_mass,
        np.where(has_mass, np.abs(mass - 125), 0),
        np.log1p(events["DER_mass_transverse_met_lep"]),
        events["DER_met_phi_centrality"],
        events["DER_deltar_tau_lep"],
        np.log1p(events["DER_pt_h"]),
        events[challenge.JET_COUNT],
        np.log1p(present(events["DER_deltaeta_jet_jet"].to_numpy())),
        np.log(events["DER_pt_ratio_lep_tau"]),
    ]
    return np.column_stack([np.asarray(c, dtype=float) for c in columns])


def test_a_simple_classifier_learns_but_is_not_perfect(training):
    inputs = classifier_inputs(training)
    mean, spread = inputs.mean(axis=0), inputs.std(axis=0)
    x = np.column_stack([np.ones(len(inputs)), (inputs - mean) / spread])
    y = (training[challenge.LABEL] == "s").to_numpy(dtype=float)
    coefficients = np.zeros(x.shape[1])
    for _ in range(15):  # Newton's method for logistic regression
        p = 1 / (1 + np.exp(-x @ coefficients))
        hessian = (x * (p * (1 - p))[:, np.newaxis]).T @ x + 1e-6 * np.eye(x.shape[1])
        coefficients += np.linalg.solve(hessian, x.T @ (y - p))

    held_out = generate_data.generate_events(3000, SEED + 100)
    inputs = classifier_inputs(held_out)
    x = np.column_stack([np.ones(len(inputs)), (inputs - mean) / spread])
    auc = rank_auc(held_out[challenge.LABEL] == "s", x @ coefficients)
    assert 0.75 < auc < 0.97
