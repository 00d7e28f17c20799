"""Simulates Higgs Machine Learning Challenge events and writes them as Kaggle's
`training.csv` and `test.csv`, so that a fresh clone runs without downloads.
"""

import argparse
import logging
import os

import numpy as np
import pandas as pd

from pipeline import challenge

# The parameters below were tuned so that each feature's distribution, and how
# well it separates signal from background, resemble the challenge's events.

# Processes. The backgrounds are the challenge's three: Z -> tautau, W + jets
# (a jet faking the hadronic tau) and top pairs.
_HIGGS, _Z, _W, _TTBAR = range(4)
_PROCESS_FRACTIONS = (0.343, 0.200, 0.340, 0.117)

# Jet count distribution per process (0, 1, 2, 3 or more jets). Signal has more
# jets (vector boson fusion, gluon fusion with radiation), top pairs the most.
_JET_COUNT_PROBABILITIES = np.array(
    [
        [0.30, 0.32, 0.30, 0.08],
        [0.55, 0.30, 0.10, 0.05],
        [0.53, 0.30, 0.11, 0.06],
        [0.10, 0.35, 0.30, 0.25],
    ]
)
# Share of signal events with two or more jets made by vector boson fusion:
# two forward jets in opposite hemispheres, the Higgs boson in between.
_VBF_FRACTION = 0.45

_HIGGS_MASS = 125.0
_Z_MASS, _Z_WIDTH = 91.19, 2.50
_W_MASS, _W_WIDTH = 80.38, 2.09
# Bounds keep every two-body decay kinematically allowed.
_Z_MASS_RANGE = (70.0, 120.0)
_W_MASS_RANGE = (70.0, 88.0)
# Drell-Yan production away from the Z peak: a falling tail under the Higgs mass.
_DRELL_YAN_FRACTION = 0.2
_DRELL_YAN_MASS_MIN, _DRELL_YAN_MASS_SCALE = 60.0, 30.0
# The W + jet and top pair (less b jets) systems: broad masses above a
# threshold, which is above the masses of their decay products.
_SYSTEM_MASS_SHAPE = 2.0
_W_JET_MASS_MIN, _W_JET_MASS_SCALE = 88.0, 12.0
_TOP_PAIR_MASS_MIN, _TOP_PAIR_MASS_SCALE = 180.0, 35.0
# Spread in rapidity of each process's system; backgrounds are more forward.
_RAPIDITY_WIDTH = np.array([1.3, 1.4, 1.5, 1.1])

# The challenge's selection and detector acceptance.
_TAU_PT_MIN = 20.0
_LEP_PT_MIN = 26.0
_LEPTON_ETA_MAX = 2.5
_JET_PT_MIN = 30.0
_JET_ETA_MAX = 4.5
# Overlap removal: a tau, a lepton and the jets are distinct objects only when
# apart by these distances in (eta, phi).
_TAU_LEPTON_SEPARATION_MIN = 0.2
_JET_SEPARATION_MIN = 0.4

# Share of leptons from W bosons that come through a leptonic tau decay.
_LEPTON_FROM_TAU_FRACTION = 0.3

# Jet spectra above threshold (exponential scales, GeV) and eta widths.
_LEADING_JET_SCALE = np.array([45.0, 28.0, 28.0, 50.0])
_SUBLEADING_JET_SCALE = np.array([30.0, 22.0, 22.0, 35.0])
_JET_ETA_WIDTH = np.array([1.9, 2.0, 2.0, 1.5])
_VBF_JET_SCALES = (60.0, 35.0)
_VBF_JET_ETA = (2.4, 1.0)
# Jets beyond the second, in events with PRI_jet_num == 3.
_EXTRA_JETS_MEAN = 0.4
_MAX_EXTRA_JETS = 3

# The measured soft term: radiation and pile-up outside the jets, which takes
# part in the balance of transverse momentum. Most events have little; some
# have tens of GeV.
_SOFT_TERM_SIGMAS = (3.0, 19.0)
_SOFT_TERM_WIDE_FRACTION = 0.55
# Scalar transverse energy of the underlying event and pile-up...
_SOFT_SUMET_SHAPE, _SOFT_SUMET_SCALE = 2.0, 35.0
# ...whose fluctuations, with the jets' energy resolution, are what the missing
# transverse energy gets wrong; they grow as the square root of the hadronic sum.
_MET_RESOLUTION = 1.5
_JET_RESOLUTION = 0.1

# Each event's candidates are drawn until one passes the selection; this bounds
# the candidates drawn at once, and so the memory used.
_CANDIDATES_PER_ROUND = 1_000_000
_FIRST_CANDIDATES_PER_EVENT = 2
_MAX_CANDIDATES_PER_EVENT = 64

# The missing mass calculator: the most probable split of the missing energy
# between neutrinos along the tau and along the lepton, given the resolution
# and typical invisible-to-visible momentum ratios (mean, width) of each decay.
_MMC_TAU_PRIOR = (0.7, 0.7)
_MMC_LEPTON_PRIOR = (1.0, 1.0)
_MMC_MAX_INVISIBLE_RATIO = 9.0
# Smearing for what the estimate leaves out (tau masses, the neutrinos'
# longitudinal momenta).
_MMC_SMEARING = 0.05
# It fails when no split fits the missing energy within its resolution, as in
# W and top events, whose neutrinos do not follow the visible decays.
_MMC_FAILURE_CHI2 = 6.0
_MMC_FAILURE_PROBABILITY = 0.6
_MMC_RANDOM_FAILURE = 0.025

# Relative weight levels per process: each Monte Carlo sample of the challenge
# gave its events one weight (its cross section over its generated events).
_WEIGHT_LEVELS = {
    _HIGGS: ((1.0, 1.8), (0.7, 0.3)),
    _Z: ((0.4, 1.0, 2.2), (0.3, 0.5, 0.2)),
    _W: ((1.5, 3.0), (0.6, 0.4)),
    _TTBAR: ((0.05, 0.3), (0.4, 0.6)),
}
_VBF_WEIGHT_LEVEL = 0.35
# Background samples were reweighted (pile-up, trigger), spreading their levels.
_BACKGROUND_WEIGHT_SPREAD = 0.25

_LOG = logging.getLogger(__name__)

_FIRST_EVENT_ID = 100_000
_TRAINING_STREAM, _TEST_STREAM = 0, 1
_DECIMALS = 3


def generate_events(n_events: int, seed: int) -> pd.DataFrame:
    """Simulates labelled events.

    Args:
      n_events: how many events, 0 or more.
      seed: a non-negative integer; the same seed gives the same events.

    Returns:
      One row per event: the 30 features in the challenge's order, then
      `Weight` and `Label` ('s' or 'b'), values rounded as in the challenge's
      files and -999.0 where a feature is undefined.
    """
    return _simulate(n_events, _generator(seed, _TRAINING_STREAM))


def write_challenge_files(
    output_dir: str,
    n_training: int = challenge.KAGGLE_TRAINING_EVENTS,
    n_test: int = challenge.KAGGLE_TEST_EVENTS,
    seed: int = 0,
) -> tuple[str, str]:
    """Writes Kaggle-format `training.csv` and `test.csv` files of simulated events.

    Training events are numbered from 100000, test events after them, as in
    Kaggle. Test events come from another random stream of the same seed and
    lose their label and weight.

    Args:
      output_dir: the folder to write in, created if needed.
      n_training: events in `training.csv`.
      n_test: events in `test.csv`.
      seed: a non-negative integer; the same seed gives identical files.

    Returns:
      The paths of `training.csv` and `test.csv`.
    """
    os.makedirs(output_dir, exist_ok=True)
    training_path = os.path.join(output_dir, "training.csv")
    test_path = os.path.join(output_dir, "test.csv")

    training = generate_events(n_training, seed)
    training.insert(0, challenge.EVENT_ID, _FIRST_EVENT_ID + np.arange(n_training))
    _write_csv(training[list(challenge.TRAINING_COLUMNS)], training_path)
    del training

    test = _simulate(n_test, _generator(seed, _TEST_STREAM))
    first_test_id = _FIRST_EVENT_ID + n_training
    test.insert(0, challenge.EVENT_ID, first_test_id + np.arange(n_test))
    _write_csv(test[list(challenge.TEST_COLUMNS)], test_path)
    return training_path, test_path


def _generator(seed: int, stream: int) -> np.random.Generator:
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


def _write_csv(events: pd.DataFrame, path: str) -> None:
    # Rounded floats written at their shortest exact form read like Kaggle's
    # files ("27.98", "-999.0"), while weights keep their full precision.
    events.to_csv(path, index=False, lineterminator="\n")


def _simulate(n_events: int, rng: np.random.Generator) -> pd.DataFrame:
    """Simulates events from the physics up.

    A Higgs boson or a background system recoils against the jets and decays
    into a hadronic tau and a lepton, the neutrinos going into the missing
    transverse energy; events that pass the selection get derived features
    computed from their rounded primitive ones, with the definitions of
    Adam-Bourdarios et al., "Learning to discover: the Higgs boson machine
    learning challenge" (2014).
    """
    if n_events < 0:
        raise ValueError(f"n_events must be 0 or more, got {n_events}")
    process = rng.choice(len(_PROCESS_FRACTIONS), size=n_events, p=_PROCESS_FRACTIONS)
    jet_num = _jet_counts(rng, process)
    vbf = (process == _HIGGS) & (jet_num >= 2) & (rng.random(n_events) < _VBF_FRACTION)

    primitives = _round(_selected_events(rng, process, jet_num, vbf))
    features = _derived_features(primitives)
    features["DER_mass_MMC"] = _missing_mass(rng, primitives, features["DER_mass_vis"])
    features.update(primitives)
    features[challenge.JET_COUNT] = jet_num.astype(np.int64)
    _mark_undefined(features, jet_num)

    events = pd.DataFrame({name: features[name] for name in challenge.FEATURES})
    events[challenge.WEIGHT] = _weights(rng, process, vbf)
    events[challenge.LABEL] = np.where(
        process == _HIGGS, challenge.SIGNAL_LABEL, challenge.BACKGROUND_LABEL
    )
    return events


def _jet_counts(rng: np.random.Generator, process: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(_JET_COUNT_PROBABILITIES[process], axis=1)
    counts = (rng.random(process.size)[:, np.newaxis] >= cumulative).sum(axis=1)
    return np.minimum(counts, challenge.MAX_JET_COUNT)


def _selected_events(
    rng: np.random.Generator,
    process: np.ndarray,
    jet_num: np.ndarray,
    vbf: np.ndarray,
) -> dict[str, np.ndarray]:
    """Draws candidates for each event until one passes the selection.

    Redrawing only the kinematics keeps the process and jet count of every
    event, so their proportions are those chosen, not those the cuts leave.
    """
    n_events = process.size
    empty = _kinematics(rng, process[:0], jet_num[:0], vbf[:0])
    selected = {name: np.empty(n_events) for name in empty}
    pending = np.arange(n_events)
    per_event = _FIRST_CANDIDATES_PER_EVENT
    while pending.size:
        # Events still pending are those that pass rarely: give them more tries.
        per_event = min(per_event * 2, _MAX_CANDIDATES_PER_EVENT)
        per_event = max(min(per_event, _CANDIDATES_PER_ROUND // pending.size), 1)
        candidates = np.repeat(pending, per_event)
        drawn = _kinematics(
            rng, process[candidates], jet_num[candidates], vbf[candidates]
        )
        passed = _passes_selection(drawn).reshape(pending.size, per_event)
        found = passed.any(axis=1)
        rows = (np.arange(pending.size) * per_event + passed.argmax(axis=1))[found]
        for name, values in drawn.items():
            selected[name][pending[found]] = values[rows]
        pending = pending[~found]
    return selected


def _passes_selection(event: dict[str, np.ndarray]) -> np.ndarray:
    passed = (
        (event["PRI_tau_pt"] > _TAU_PT_MIN)
        & (event["PRI_lep_pt"] > _LEP_PT_MIN)
        & (np.abs(event["PRI_tau_eta"]) <= _LEPTON_ETA_MAX)
        & (np.abs(event["PRI_lep_eta"]) <= _LEPTON_ETA_MAX)
        & (_separation(event, "PRI_tau", "PRI_lep") > _TAU_LEPTON_SEPARATION_MIN)
    )
    for jet in ("PRI_jet_leading", "PRI_jet_subleading"):
        absent = event[f"{jet}_pt"] == 0
        for particle in ("PRI_tau", "PRI_lep"):
            separated = _separation(event, jet, particle) > _JET_SEPARATION_MIN
            passed &= absent | separated
    return passed


def _separation(event: dict[str, np.ndarray], first: str, second: str) -> np.ndarray:
    """Delta R between two objects of an event, named by feature prefix."""
    delta_eta = event[f"{first}_eta"] - event[f"{second}_eta"]
    delta_phi = _wrapped(event[f"{first}_phi"] - event[f"{second}_phi"])
    return np.hypot(delta_eta, delta_phi)


def _kinematics(
    rng: np.random.Generator,
    process: np.ndarray,
    jet_num: np.ndarray,
    vbf: np.ndarray,
) -> dict[str, np.ndarray]:
    """Simulates one candidate per entry; returns the primitive features."""
    n = process.size
    jets = _jets(rng, process, jet_num, vbf)

    soft_x, soft_y = _soft_term(rng, n)
    hadronic_sumet = jets["all_pt"] + rng.gamma(_SOFT_SUMET_SHAPE, _SOFT_SUMET_SCALE, n)
    resolution = _MET_RESOLUTION * np.sqrt(hadronic_sumet)
    # The tau-lepton system balances the true jets and soft radiation, which
    # differ from the measured ones by the detector's resolution.
    recoil_x = -(jets["true_sum_x"] + soft_x + rng.normal(0.0, 1.0, n) * resolution)
    recoil_y = -(jets["true_sum_y"] + soft_y + rng.normal(0.0, 1.0, n) * resolution)
    rapidity = rng.normal(0.0, _RAPIDITY_WIDTH[process])

    is_z, is_w, is_top = process == _Z, process == _W, process == _TTBAR
    w_mass_a = _breit_wigner(rng, _W_MASS, _W_WIDTH, _W_MASS_RANGE, n)
    w_mass_b = _breit_wigner(rng, _W_MASS, _W_WIDTH, _W_MASS_RANGE, n)
    system_mass = np.full(n, _HIGGS_MASS)
    system_mass[is_z] = np.where(
        rng.random(int(is_z.sum())) < _DRELL_YAN_FRACTION,
        _DRELL_YAN_MASS_MIN + rng.exponential(_DRELL_YAN_MASS_SCALE, int(is_z.sum())),
        _breit_wigner(rng, _Z_MASS, _Z_WIDTH, _Z_MASS_RANGE, int(is_z.sum())),
    )
    system_mass[is_w] = _W_JET_MASS_MIN + rng.gamma(
        _SYSTEM_MASS_SHAPE, _W_JET_MASS_SCALE, int(is_w.sum())
    )
    system_mass[is_top] = _TOP_PAIR_MASS_MIN + rng.gamma(
        _SYSTEM_MASS_SHAPE, _TOP_PAIR_MASS_SCALE, int(is_top.sum())
    )
    system = _from_mass_pt_rapidity(system_mass, recoil_x, recoil_y, rapidity)

    # The system's two legs: (tau side, lepton side). Legs that are W bosons
    # decay once more, into the lepton or tau and a neutrino.
    mass_a = np.where(is_top, w_mass_a, 0.0)
    mass_b = np.where(is_w | is_top, w_mass_b, 0.0)
    leg_a, leg_b = _two_body_decay(rng, system, system_mass, mass_a, mass_b)

    tau_side, invisible = leg_a.copy(), np.zeros((n, 4))
    if is_top.any():
        tau, neutrino = _two_body_decay(rng, leg_a[is_top], w_mass_a[is_top], 0.0, 0.0)
        tau_side[is_top] = tau
        invisible[is_top] += neutrino
    lepton, lepton_neutrino = leg_b.copy(), np.zeros((n, 4))
    w_leg = is_w | is_top
    if w_leg.any():
        lepton[w_leg], lepton_neutrino[w_leg] = _two_body_decay(
            rng, leg_b[w_leg], w_mass_b[w_leg], 0.0, 0.0
        )
    invisible += lepton_neutrino

    # Tau decays: the neutrinos run along the tau; one in a hadronic decay, two
    # in a leptonic one, which leaves the lepton the smaller share. In W + jets
    # the "tau" is a jet, wholly visible.
    real_tau = ~is_w
    hadronic_share = np.where(real_tau, rng.beta(1.8, 1.2, n), 1.0)
    direct_lepton = w_leg & (rng.random(n) >= _LEPTON_FROM_TAU_FRACTION)
    leptonic_share = np.where(direct_lepton, 1.0, rng.beta(1.2, 2.0, n))
    invisible += (1.0 - hadronic_share)[:, np.newaxis] * tau_side
    invisible += (1.0 - leptonic_share)[:, np.newaxis] * lepton
    tau_visible = hadronic_share[:, np.newaxis] * tau_side
    lepton_visible = leptonic_share[:, np.newaxis] * lepton

    tau_pt, tau_eta, tau_phi = _pt_eta_phi(tau_visible)
    lep_pt, lep_eta, lep_phi = _pt_eta_phi(lepton_visible)

    # Missing transverse energy as measured: what balances all that is seen.
    met_x = -(tau_visible[:, 1] + lepton_visible[:, 1] + jets["sum_x"] + soft_x)
    met_y = -(tau_visible[:, 2] + lepton_visible[:, 2] + jets["sum_y"] + soft_y)

    return {
        "PRI_tau_pt": tau_pt,
        "PRI_tau_eta": tau_eta,
        "PRI_tau_phi": tau_phi,
        "PRI_lep_pt": lep_pt,
        "PRI_lep_eta": lep_eta,
        "PRI_lep_phi": lep_phi,
        "PRI_met": np.hypot(met_x, met_y),
        "PRI_met_phi": np.arctan2(met_y, met_x),
        "PRI_met_sumet": tau_pt + lep_pt + hadronic_sumet,
        "PRI_jet_leading_pt": jets["leading_pt"],
        "PRI_jet_leading_eta": jets["leading_eta"],
        "PRI_jet_leading_phi": jets["leading_phi"],
        "PRI_jet_subleading_pt": jets["subleading_pt"],
        "PRI_jet_subleading_eta": jets["subleading_eta"],
        "PRI_jet_subleading_phi": jets["subleading_phi"],
        "extra_jets_pt": jets["extra_pt"],
    }


def _jets(
    rng: np.random.Generator,
    process: np.ndarray,
    jet_num: np.ndarray,
    vbf: np.ndarray,
) -> dict[str, np.ndarray]:
    """Jets above threshold; pts are 0 for jets the event does not have."""
    n = process.size
    has_leading, has_subleading = jet_num >= 1, jet_num >= 2

    leading_scale = np.where(vbf, _VBF_JET_SCALES[0], _LEADING_JET_SCALE[process])
    subleading_scale = np.where(vbf, _VBF_JET_SCALES[1], _SUBLEADING_JET_SCALE[process])
    first = _JET_PT_MIN + rng.exponential(leading_scale)
    second = _JET_PT_MIN + rng.exponential(subleading_scale)
    leading_pt = np.where(has_subleading, np.maximum(first, second), first)
    subleading_pt = np.minimum(first, second)

    width = _JET_ETA_WIDTH[process]
    hemisphere = rng.choice((-1.0, 1.0), size=n)
    vbf_mean, vbf_width = _VBF_JET_ETA
    eta_mean = np.where(vbf, hemisphere * vbf_mean, 0.0)
    eta_width = np.where(vbf, vbf_width, width)
    leading_eta = _truncated_normal(rng, eta_mean, eta_width, _JET_ETA_MAX)
    subleading_eta = _truncated_normal(rng, -eta_mean, eta_width, _JET_ETA_MAX)
    leading_phi = rng.uniform(-np.pi, np.pi, n)
    subleading_phi = rng.uniform(-np.pi, np.pi, n)

    # Further jets are softer than the subleading one.
    extra_count = np.where(
        jet_num >= challenge.MAX_JET_COUNT,
        1 + np.minimum(rng.poisson(_EXTRA_JETS_MEAN, n), _MAX_EXTRA_JETS - 1),
        0,
    )
    slots = np.arange(_MAX_EXTRA_JETS) < extra_count[:, np.newaxis]
    extra_pt = _JET_PT_MIN + (subleading_pt - _JET_PT_MIN)[:, np.newaxis] * (
        rng.random((n, _MAX_EXTRA_JETS)) ** 2
    )
    extra_pt = np.where(slots, extra_pt, 0.0)
    extra_phi = rng.uniform(-np.pi, np.pi, (n, _MAX_EXTRA_JETS))

    leading_pt = np.where(has_leading, leading_pt, 0.0)
    subleading_pt = np.where(has_subleading, subleading_pt, 0.0)
    sum_x = (
        leading_pt * np.cos(leading_phi)
        + subleading_pt * np.cos(subleading_phi)
        + (extra_pt * np.cos(extra_phi)).sum(axis=1)
    )
    sum_y = (
        leading_pt * np.sin(leading_phi)
        + subleading_pt * np.sin(subleading_phi)
        + (extra_pt * np.sin(extra_phi)).sum(axis=1)
    )
    # Measured jets are what the event has; the true ones differ by resolution.
    response = 1.0 + rng.normal(0.0, _JET_RESOLUTION, (n, 2 + _MAX_EXTRA_JETS))
    pts = np.column_stack([leading_pt, subleading_pt, extra_pt])
    phis = np.column_stack([leading_phi, subleading_phi, extra_phi])
    true_sum_x = (pts * response * np.cos(phis)).sum(axis=1)
    true_sum_y = (pts * response * np.sin(phis)).sum(axis=1)
    extra_total = extra_pt.sum(axis=1)
    return {
        "leading_pt": leading_pt,
        "leading_eta": leading_eta,
        "leading_phi": leading_phi,
        "subleading_pt": subleading_pt,
        "subleading_eta": subleading_eta,
        "subleading_phi": subleading_phi,
        "extra_pt": extra_total,
        "all_pt": leading_pt + subleading_pt + extra_total,
        "sum_x": sum_x,
        "sum_y": sum_y,
        "true_sum_x": true_sum_x,
        "true_sum_y": true_sum_y,
    }


def _soft_term(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    narrow, wide = _SOFT_TERM_SIGMAS
    sigma = np.where(rng.random(n) < _SOFT_TERM_WIDE_FRACTION, wide, narrow)
    return rng.normal(0.0, 1.0, n) * sigma, rng.normal(0.0, 1.0, n) * sigma


def _truncated_normal(
    rng: np.random.Generator, mean: np.ndarray, width: np.ndarray, limit: float
) -> np.ndarray:
    values = rng.normal(mean, width)
    outside = np.abs(values) > limit
    while outside.any():
        values[outside] = rng.normal(mean[outside], width[outside])
        outside = np.abs(values) > limit
    return values


def _breit_wigner(
    rng: np.random.Generator,
    mass: float,
    width: float,
    bounds: tuple[float, float],
    size: int,
) -> np.ndarray:
    # Inverse of the Cauchy distribution function, restricted to the bounds.
    low, high = (0.5 + np.arctan((b - mass) / (width / 2)) / np.pi for b in bounds)
    return mass + width / 2 * np.tan(np.pi * (rng.uniform(low, high, size) - 0.5))


def _from_mass_pt_rapidity(
    mass: np.ndarray, px: np.ndarray, py: np.ndarray, rapidity: np.ndarray
) -> np.ndarray:
    """Four-vectors (E, px, py, pz), one per row."""
    transverse_mass = np.sqrt(mass**2 + px**2 + py**2)
    return np.stack(
        [
            transverse_mass * np.cosh(rapidity),
            px,
            py,
            transverse_mass * np.sinh(rapidity),
        ],
        axis=1,
    )


def _two_body_decay(
    rng: np.random.Generator,
    parent: np.ndarray,
    parent_mass: np.ndarray,
    mass_1: np.ndarray | float,
    mass_2: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic decays in the parent's rest frame, boosted to the lab."""
    n = parent.shape[0]
    mass_sum, mass_difference = mass_1 + mass_2, mass_1 - mass_2
    momentum = np.sqrt(
        np.maximum(
            (parent_mass**2 - mass_sum**2) * (parent_mass**2 - mass_difference**2),
            0.0,
        )
    ) / (2 * parent_mass)
    cos_theta = rng.uniform(-1.0, 1.0, n)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = np.stack(
        [sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], axis=1
    )
    p = momentum[:, np.newaxis] * direction
    first = np.column_stack([np.sqrt(momentum**2 + mass_1**2), p])
    second = np.column_stack([np.sqrt(momentum**2 + mass_2**2), -p])
    return _boost(first, parent, parent_mass), _boost(second, parent, parent_mass)


def _boost(
    vector: np.ndarray, parent: np.ndarray, parent_mass: np.ndarray
) -> np.ndarray:
    """Takes four-vectors from the parent's rest frame to the lab."""
    gamma = parent[:, 0] / parent_mass
    beta = parent[:, 1:] / parent[:, :1]
    beta_p = (beta * vector[:, 1:]).sum(axis=1)
    # gamma^2 / (gamma + 1) equals (gamma - 1) / beta^2 without its 0/0 at rest.
    along = gamma**2 / (gamma + 1) * beta_p + gamma * vector[:, 0]
    boosted = np.empty_like(vector)
    boosted[:, 0] = gamma * (vector[:, 0] + beta_p)
    boosted[:, 1:] = vector[:, 1:] + along[:, np.newaxis] * beta
    return boosted


def _pt_eta_phi(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(vector[:, 1], vector[:, 2])
    return pt, np.arcsinh(vector[:, 3] / pt), np.arctan2(vector[:, 2], vector[:, 1])


def _round(primitives: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rounds as the challenge's files do, so derived features agree with them."""
    rounded = {
        name: np.round(values, _DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
        for name, values in primitives.items()
    }
    extra = rounded.pop("extra_jets_pt")
    rounded["PRI_jet_all_pt"] = np.round(
        rounded["PRI_jet_leading_pt"] + rounded["PRI_jet_subleading_pt"] + extra,
        _DECIMALS,
    )
    return rounded


def _derived_features(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The challenge's derived features, from the primitive ones.

    Values for jets an event does not have are computed from zeros and replaced
    by -999.0 afterwards.
    """
    tau = _transverse(p["PRI_tau_pt"], p["PRI_tau_phi"])
    lep = _transverse(p["PRI_lep_pt"], p["PRI_lep_phi"])
    met = _transverse(p["PRI_met"], p["PRI_met_phi"])
    leading = _transverse(p["PRI_jet_leading_pt"], p["PRI_jet_leading_phi"])
    subleading = _transverse(p["PRI_jet_subleading_pt"], p["PRI_jet_subleading_phi"])

    delta_phi_met_lep = p["PRI_met_phi"] - p["PRI_lep_phi"]
    jets_delta_eta = p["PRI_jet_leading_eta"] - p["PRI_jet_subleading_eta"]
    tau_lep_delta_eta = p["PRI_tau_eta"] - p["PRI_lep_eta"]
    tau_lep_delta_phi = _wrapped(p["PRI_tau_phi"] - p["PRI_lep_phi"])

    derived = {
        "DER_mass_transverse_met_lep": np.sqrt(
            2 * p["PRI_lep_pt"] * p["PRI_met"] * (1 - np.cos(delta_phi_met_lep))
        ),
        "DER_mass_vis": _massless_pair_mass(
            p["PRI_tau_pt"],
            p["PRI_tau_eta"],
            p["PRI_tau_phi"],
            p["PRI_lep_pt"],
            p["PRI_lep_eta"],
            p["PRI_lep_phi"],
        ),
        "DER_pt_h": _modulus(tau + lep + met),
        "DER_deltaeta_jet_jet": np.abs(jets_delta_eta),
        "DER_mass_jet_jet": _massless_pair_mass(
            p["PRI_jet_leading_pt"],
            p["PRI_jet_leading_eta"],
            p["PRI_jet_leading_phi"],
            p["PRI_jet_subleading_pt"],
            p["PRI_jet_subleading_eta"],
            p["PRI_jet_subleading_phi"],
        ),
        "DER_prodeta_jet_jet": p["PRI_jet_leading_eta"] * p["PRI_jet_subleading_eta"],
        "DER_deltar_tau_lep": np.hypot(tau_lep_delta_eta, tau_lep_delta_phi),
        # Jets beyond the second enter pt_tot only through their absence.
        "DER_pt_tot": _modulus(tau + lep + met + leading + subleading),
        "DER_sum_pt": p["PRI_tau_pt"] + p["PRI_lep_pt"] + p["PRI_jet_all_pt"],
        "DER_pt_ratio_lep_tau": p["PRI_lep_pt"] / p["PRI_tau_pt"],
        "DER_met_phi_centrality": _met_phi_centrality(
            p["PRI_met_phi"], p["PRI_tau_phi"], p["PRI_lep_phi"]
        ),
        "DER_lep_eta_centrality": _lep_eta_centrality(
            p["PRI_lep_eta"], p["PRI_jet_leading_eta"], p["PRI_jet_subleading_eta"]
        ),
    }
    return {name: np.round(values, _DECIMALS) + 0.0 for name, values in derived.items()}


def _transverse(pt: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return np.stack([pt * np.cos(phi), pt * np.sin(phi)], axis=1)


def _modulus(vector: np.ndarray) -> np.ndarray:
    return np.hypot(vector[:, 0], vector[:, 1])


def _wrapped(angle: np.ndarray) -> np.ndarray:
    """Angles brought into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _massless_pair_mass(pt_1, eta_1, phi_1, pt_2, eta_2, phi_2) -> np.ndarray:
    mass_squared = 2 * pt_1 * pt_2 * (np.cosh(eta_1 - eta_2) - np.cos(phi_1 - phi_2))
    return np.sqrt(np.maximum(mass_squared, 0.0))


def _met_phi_centrality(met_phi, tau_phi, lep_phi) -> np.ndarray:
    """sqrt(2) on the bisector of tau and lepton, 1 along either, -sqrt(2) opposite.

    A tau and a lepton at the same rounded angle have no side to orient the
    angles by; +1 is taken then, which keeps the value finite.
    """
    side = np.sign(np.sin(tau_phi - lep_phi))
    side = np.where(side == 0, 1.0, side)
    a = np.sin(met_phi - lep_phi) * side
    b = np.sin(tau_phi - met_phi) * side
    norm = np.hypot(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a + b) / norm, 0.0)


def _lep_eta_centrality(lep_eta, jet_eta_1, jet_eta_2) -> np.ndarray:
    """1 midway between the jets, 1/e at either jet, falling off outside."""
    offset = lep_eta - (jet_eta_1 + jet_eta_2) / 2
    spread = (jet_eta_1 - jet_eta_2) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        centrality = np.exp(-4 * offset**2 / spread)
    # Jets at the same rounded eta: the lepton is central only exactly between.
    return np.where(spread > 0, centrality, (offset == 0).astype(float))


def _missing_mass(
    rng: np.random.Generator,
    p: dict[str, np.ndarray],
    visible_mass: np.ndarray,
) -> np.ndarray:
    """A missing mass calculator's estimate of the tau pair's mass.

    The neutrinos are taken along the tau and the lepton: met = a * tau +
    b * lepton in the transverse plane, with a and b (invisible over visible
    momentum) fitted by weighted least squares against Gaussian priors, then
    kept physical (0 or more). The mass is m_vis * sqrt((1 + a)(1 + b)), the
    collinear approximation's.
    """
    tau = _transverse(p["PRI_tau_pt"], p["PRI_tau_phi"])
    lep = _transverse(p["PRI_lep_pt"], p["PRI_lep_phi"])
    met = _transverse(p["PRI_met"], p["PRI_met_phi"])
    hadronic_sumet = p["PRI_met_sumet"] - p["PRI_tau_pt"] - p["PRI_lep_pt"]
    met_weight = 1.0 / (_MET_RESOLUTION**2 * np.maximum(hadronic_sumet, 1.0))

    (a_prior, a_width), (b_prior, b_width) = _MMC_TAU_PRIOR, _MMC_LEPTON_PRIOR
    m_aa = (tau * tau).sum(axis=1) * met_weight + 1 / a_width**2
    m_bb = (lep * lep).sum(axis=1) * met_weight + 1 / b_width**2
    m_ab = (tau * lep).sum(axis=1) * met_weight
    r_a = (tau * met).sum(axis=1) * met_weight + a_prior / a_width**2
    r_b = (lep * met).sum(axis=1) * met_weight + b_prior / b_width**2
    determinant = m_aa * m_bb - m_ab**2
    a = np.clip((m_bb * r_a - m_ab * r_b) / determinant, 0, _MMC_MAX_INVISIBLE_RATIO)
    b = np.clip((m_aa * r_b - m_ab * r_a) / determinant, 0, _MMC_MAX_INVISIBLE_RATIO)

    mass = (
        visible_mass
        * np.sqrt((1 + a) * (1 + b))
        * np.exp(rng.normal(0.0, _MMC_SMEARING, a.size))
    )
    residual = met - a[:, np.newaxis] * tau - b[:, np.newaxis] * lep
    chi2 = (residual**2).sum(axis=1) * met_weight
    failed = (chi2 > _MMC_FAILURE_CHI2) & (
        rng.random(a.size) < _MMC_FAILURE_PROBABILITY
    )
    failed |= rng.random(a.size) < _MMC_RANDOM_FAILURE
    return np.where(failed, challenge.MISSING_VALUE, np.round(mass, _DECIMALS))


def _mark_undefined(features: dict[str, np.ndarray], jet_num: np.ndarray) -> None:
    """Writes -999.0 wherever the challenge has it for lack of jets."""
    for name in challenge.NEEDS_ONE_JET:
        features[name] = np.where(jet_num >= 1, features[name], challenge.MISSING_VALUE)
    for name in challenge.NEEDS_TWO_JETS:
        features[name] = np.where(jet_num >= 2, features[name], challenge.MISSING_VALUE)


def _weights(
    rng: np.random.Generator, process: np.ndarray, vbf: np.ndarray
) -> np.ndarray:
    """Positive weights whose class sums are the challenge's, scaled to the sample."""
    weights = np.empty(process.size)
    for code, (levels, probabilities) in _WEIGHT_LEVELS.items():
        in_process = process == code
        weights[in_process] = rng.choice(
            levels, size=int(in_process.sum()), p=probabilities
        )
    weights[vbf] = _VBF_WEIGHT_LEVEL
    background = process != _HIGGS
    weights[background] *= np.exp(
        rng.normal(0.0, _BACKGROUND_WEIGHT_SPREAD, int(background.sum()))
    )

    scale = process.size / challenge.KAGGLE_TRAINING_EVENTS
    for in_class, total in (
        (~background, challenge.SIGNAL_WEIGHT_TOTAL),
        (background, challenge.BACKGROUND_WEIGHT_TOTAL),
    ):
        if in_class.any():
            weights[in_class] *= total * scale / weights[in_class].sum()
    return weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write simulated challenge-format training.csv and test.csv."
    )
    parser.add_argument("--output-dir", required=True, help="folder to write in")
    parser.add_argument(
        "--training-events", type=int, default=challenge.KAGGLE_TRAINING_EVENTS
    )
    parser.add_argument("--test-events", type=int, default=challenge.KAGGLE_TEST_EVENTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    training_path, test_path = write_challenge_files(
        args.output_dir, args.training_events, args.test_events, args.seed
    )
    _LOG.info(
        "Wrote %d training events to %s and %d test events to %s",
        args.training_events,
        training_path,
        args.test_events,
        test_path,
    )


if __name__ == "__main__":
    main()
