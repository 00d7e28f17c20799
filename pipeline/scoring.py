"""The challenge's metric (AMS), the choice of the signal cut, and submission files.

Plain numpy and pandas, so that it can be used and tested without TensorFlow.
"""

from collections.abc import Callable, Iterable
from typing import IO

import numpy as np
import pandas as pd

from pipeline import challenge

RANK_ORDER = "RankOrder"
CLASS = "Class"
SUBMISSION_COLUMNS = (challenge.EVENT_ID, RANK_ORDER, CLASS)

# How many offending values an error message lists before it stops.
_MAX_LISTED = 5


def _listed(values: Iterable) -> str:
    values = list(values)
    shown = ", ".join(str(value) for value in values[:_MAX_LISTED])
    if len(values) > _MAX_LISTED:
        shown += f", ... ({len(values)} in all)"
    return shown


def ams(
    signal_weight: float, background_weight: float, b_reg: float = challenge.AMS_B_REG
) -> float:
    """The approximate median significance of the challenge.

    AMS = sqrt(2 * ((s + b + b_reg) * ln(1 + s / (b + b_reg)) - s)).

    Args:
      signal_weight: s, the summed weight of the selected signal events.
      background_weight: b, the summed weight of the selected background events.
      b_reg: the regularisation term added to the background.

    Returns:
      The AMS, as a float; an array of them when s or b are arrays (elementwise).

    Raises:
      ValueError: s or b is negative or not finite, or b + b_reg is not positive.
    """
    s = np.asarray(signal_weight, dtype=np.float64)
    b = np.asarray(background_weight, dtype=np.float64)
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(b))):
        raise ValueError("AMS needs finite signal and background weights")
    if np.any(s < 0) or np.any(b < 0):
        raise ValueError("AMS needs non-negative signal and background weights")
    regularised = b + b_reg
    if np.any(regularised <= 0):
        raise ValueError(f"AMS needs b + b_reg > 0 (b_reg is {b_reg})")
    radicand = 2.0 * ((s + regularised) * np.log1p(s / regularised) - s)
    # The radicand is never negative in exact arithmetic; rounding can make it
    # a hair below zero when s is tiny next to b.
    value = np.sqrt(np.maximum(radicand, 0.0))
    return float(value) if value.ndim == 0 else value


def _labels_and_weights(labels, weights) -> tuple[np.ndarray, np.ndarray]:
    """Checks labels and weights and returns them as 1-D bool and float arrays."""
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=np.float64)
    if labels.ndim != 1 or weights.ndim != 1:
        raise ValueError(
            f"labels and weights must be 1-D, got shapes {labels.shape} and "
            f"{weights.shape}"
        )
    if len(labels) != len(weights):
        raise ValueError(
            f"labels and weights differ in length ({len(labels)} and {len(weights)})"
        )
    valid = np.isin(labels, (0, 1))
    if not valid.all():
        raise ValueError(
            f"labels must be 0 (background) or 1 (signal), got "
            f"{_listed(np.unique(labels[~valid]))}"
        )
    bad = ~(np.isfinite(weights) & (weights > 0))
    if bad.any():
        raise ValueError(
            f"weights must be finite and positive; {bad.sum()} are not, first at "
            f"index {int(np.argmax(bad))} ({weights[bad][0]})"
        )
    return labels == 1, weights


def renormalised_weights(labels, weights) -> np.ndarray:
    """Scales the weights of each class to the class's total in the challenge.

    After scaling, signal weights sum to SIGNAL_WEIGHT_TOTAL and background
    weights to BACKGROUND_WEIGHT_TOTAL, so that the AMS of any sample (a
    validation split, a subsample) is on the scale of the full challenge.

    Args:
      labels: 0/1 per event, 1 for signal.
      weights: the positive event weights.

    Returns:
      The scaled weights, as float64, in the order of the events.

    Raises:
      ValueError: lengths differ, a label is not 0/1, a weight is not positive
        and finite, or a class has no events.
    """
    is_signal, weights = _labels_and_weights(labels, weights)
    signal_count = int(is_signal.sum())
    if signal_count == 0 or signal_count == len(is_signal):
        absent = "signal" if signal_count == 0 else "background"
        raise ValueError(
            f"cannot renormalise weights: there are no {absent} events "
            f"among {len(is_signal)}"
        )
    scaled = weights.copy()
    scaled[is_signal] *= challenge.SIGNAL_WEIGHT_TOTAL / weights[is_signal].sum()
    scaled[~is_signal] *= challenge.BACKGROUND_WEIGHT_TOTAL / weights[~is_signal].sum()
    return scaled


def _scores(scores, expected_length: int | None = None) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    if expected_length is not None and len(scores) != expected_length:
        raise ValueError(
            f"scores and labels differ in length ({len(scores)} and {expected_length})"
        )
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(
            f"scores must be finite; {bad.sum()} are not, first at index "
            f"{int(np.argmax(bad))} ({scores[bad][0]})"
        )
    return scores


def best_cut(
    scores, labels, weights, pseudo_background_events: float = 0.0
) -> tuple[float, float]:
    """Finds the score cut that maximises the AMS on labelled events.

    Events with score >= cut are called signal. Every distinct score is tried
    as the cut, so events with equal scores are always selected together.

    On a few thousand events, the tightest cuts often select no background at
    all by chance, and their AMS looks far better than it will be on new
    events. With pseudo_background_events, cuts are compared as if that many
    more background events, each of the mean background weight, had been
    selected; this pulls the choice away from cuts whose appeal rests on
    zero or one background event, and matters less the more events a cut
    selects.

    Args:
      scores: the model's score per event; higher means more signal-like.
      labels: 0/1 per event, 1 for signal.
      weights: the positive event weights, renormalised here per class.
      pseudo_background_events: background events' worth of weight added to
        every cut's selected background when comparing cuts (not to the AMS
        returned).

    Returns:
      (cut, ams): a cut that is one of the scores, such that selecting
      score >= cut gives the maximum AMS (as compared), and the AMS of that
      selection. When several cuts compare equal, the highest is returned.

    Raises:
      ValueError: as for renormalised_weights, or a score is not finite, or
        pseudo_background_events is negative.
    """
    if pseudo_background_events < 0:
        raise ValueError(
            f"pseudo_background_events must be >= 0, not {pseudo_background_events}"
        )
    scaled = renormalised_weights(labels, weights)
    is_signal = np.asarray(labels) == 1
    scores = _scores(scores, len(scaled))

    order = np.argsort(-scores, kind="stable")
    descending = scores[order]
    selected_signal = np.cumsum(np.where(is_signal[order], scaled[order], 0.0))
    selected_background = np.cumsum(np.where(is_signal[order], 0.0, scaled[order]))
    # A cut at a score selects the whole group of events sharing it, so the
    # sums are only read at the last event of each group.
    group_ends = np.flatnonzero(np.append(descending[1:] != descending[:-1], True))
    signal, background = selected_signal[group_ends], selected_background[group_ends]
    padding = pseudo_background_events * scaled[~is_signal].mean()
    best = int(np.argmax(ams(signal, background + padding)))
    cut = float(descending[group_ends[best]])
    return cut, float(ams(signal[best], background[best]))


def selected_share(scores, cut: float) -> float:
    """The fraction of events whose score is at or above the cut."""
    scores = _scores(scores)
    if len(scores) == 0:
        raise ValueError("cannot take a share of no events")
    return float(np.mean(scores >= cut))


def cut_for_share(scores, share: float) -> float:
    """The score cut that selects the given fraction of the most signal-like events.

    A cut chosen on one set of scores selects a different share of events
    scored another way (single members' out-of-fold scores against the
    members' average, say); the share carries over wherever the events are
    drawn alike, so a model can keep its selection as a share and turn it
    into a cut on the events it scores.

    Args:
      scores: the score per event; higher means more signal-like.
      share: the fraction to select, in [0, 1]; it is rounded to a whole
        number of events.

    Returns:
      The score of the last selected event, so that score >= cut selects
      that many events, or more where others share its score; inf when the
      share rounds to no events.

    Raises:
      ValueError: there are no scores, a score is not finite, or share is
        outside [0, 1].
    """
    scores = _scores(scores)
    if len(scores) == 0:
        raise ValueError("cannot choose a cut on no events")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, not {share}")
    count = int(round(share * len(scores)))
    if count == 0:
        return float("inf")
    return float(np.sort(scores)[len(scores) - count])


def ams_at_cut(scores, labels, weights, cut: float) -> float:
    """The AMS when events with score >= cut are called signal.

    Args:
      scores: the model's score per event.
      labels: 0/1 per event, 1 for signal.
      weights: the positive event weights, renormalised here per class.
      cut: the lowest score called signal.

    Returns:
      The AMS of that selection (0 if it selects no signal).

    Raises:
      ValueError: as for renormalised_weights, or a score is not finite.
    """
    scaled = renormalised_weights(labels, weights)
    is_signal = np.asarray(labels) == 1
    scores = _scores(scores, len(scaled))
    selected = scores >= cut
    return ams(scaled[selected & is_signal].sum(), scaled[selected & ~is_signal].sum())


def rank_order(scores) -> np.ndarray:
    """Ranks events from 1 (least signal-like) to N (most signal-like).

    Args:
      scores: the model's score per event; higher means more signal-like.

    Returns:
      int64 ranks, a permutation of 1..N in the order of the events. Of events
      with equal scores, the one that comes first gets the lower rank.

    Raises:
      ValueError: a score is not finite.
    """
    scores = _scores(scores)
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return ranks


def make_submission(event_ids, scores, cut: float) -> pd.DataFrame:
    """Builds the challenge's submission table.

    Args:
      event_ids: the EventId of each event.
      scores: the model's score per event; higher means more signal-like.
      cut: the lowest score called signal, as from best_cut.

    Returns:
      A frame with columns EventId, RankOrder, Class, one row per event in the
      given order; Class is 's' where score >= cut, else 'b', so the 's' events
      hold exactly the top ranks.

    Raises:
      ValueError: no events, lengths differ, an EventId repeats, a score is not
        finite, or the cut is NaN.
    """
    event_ids = np.asarray(event_ids)
    if event_ids.ndim != 1:
        raise ValueError(f"event ids must be 1-D, got shape {event_ids.shape}")
    if len(event_ids) == 0:
        raise ValueError("cannot make a submission without events")
    scores = _scores(scores)
    if len(scores) != len(event_ids):
        raise ValueError(
            f"event ids and scores differ in length ({len(event_ids)} and "
            f"{len(scores)})"
        )
    repeated = pd.Series(event_ids).duplicated(keep=False)
    if repeated.any():
        raise ValueError(
            f"duplicate {challenge.EVENT_ID}: "
            f"{_listed(pd.unique(event_ids[repeated.to_numpy()]))}"
        )
    if np.isnan(cut):
        raise ValueError("the cut is NaN")
    is_signal = scores >= cut
    return pd.DataFrame(
        {
            challenge.EVENT_ID: event_ids,
            RANK_ORDER: rank_order(scores),
            CLASS: np.where(
                is_signal, challenge.SIGNAL_LABEL, challenge.BACKGROUND_LABEL
            ),
        },
        columns=list(SUBMISSION_COLUMNS),
    )


def validate_submission(frame: pd.DataFrame, expected_event_ids=None) -> None:
    """Checks a submission against the challenge's format rules.

    Args:
      frame: the submission, as from make_submission or read from its CSV.
      expected_event_ids: if given, the event ids the submission must cover,
        each exactly once.

    Raises:
      ValueError: naming the first rule broken: columns not exactly EventId,
        RankOrder, Class; no rows; a missing or repeated EventId; RankOrder not
        a permutation of 1..N; a Class other than 's' or 'b'; an 's' ranked
        below a 'b'; event ids other than the expected ones.
    """
    if list(frame.columns) != list(SUBMISSION_COLUMNS):
        raise ValueError(
            f"submission columns must be {','.join(SUBMISSION_COLUMNS)}, got "
            f"{','.join(str(name) for name in frame.columns)}"
        )
    count = len(frame)
    if count == 0:
        raise ValueError("submission has no rows")

    ids = frame[challenge.EVENT_ID]
    if ids.isna().any():
        raise ValueError(
            f"submission has {int(ids.isna().sum())} missing {challenge.EVENT_ID}(s)"
        )
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        raise ValueError(
            f"duplicate {challenge.EVENT_ID} in submission: "
            f"{_listed(ids[repeated].unique())}"
        )

    ranks = frame[RANK_ORDER]
    if not pd.api.types.is_integer_dtype(ranks):
        raise ValueError(f"{RANK_ORDER} must be integers, got dtype {ranks.dtype}")
    out_of_range = ranks[(ranks < 1) | (ranks > count)]
    if len(out_of_range):
        raise ValueError(
            f"{RANK_ORDER} must run from 1 to {count}, got "
            f"{_listed(out_of_range.unique())}"
        )
    repeated_ranks = ranks[ranks.duplicated()]
    if len(repeated_ranks):
        # With every rank in 1..N, a repeat means some rank is missing, so
        # this is the only other way to fail being a permutation.
        raise ValueError(
            f"{RANK_ORDER} must be a permutation of 1..{count}; repeated: "
            f"{_listed(repeated_ranks.unique())}"
        )

    classes = frame[CLASS]
    labels = (challenge.SIGNAL_LABEL, challenge.BACKGROUND_LABEL)
    unknown = classes[~classes.isin(labels)]
    if len(unknown):
        raise ValueError(
            f"{CLASS} must be '{labels[0]}' or '{labels[1]}', got "
            f"{_listed(repr(value) for value in unknown.unique())}"
        )
    is_signal = (classes == challenge.SIGNAL_LABEL).to_numpy()
    if is_signal.any() and not is_signal.all():
        lowest_signal = int(ranks[is_signal].min())
        highest_background = int(ranks[~is_signal].max())
        if lowest_signal < highest_background:
            raise ValueError(
                f"every 's' must be ranked above every 'b', but an 's' has "
                f"{RANK_ORDER} {lowest_signal} and a 'b' has {highest_background}"
            )

    if expected_event_ids is not None:
        expected = set(np.asarray(expected_event_ids).tolist())
        present = set(ids.tolist())
        missing, unexpected = expected - present, present - expected
        if missing or unexpected:
            problems = []
            if missing:
                problems.append(f"{len(missing)} missing ({_listed(sorted(missing))})")
            if unexpected:
                problems.append(
                    f"{len(unexpected)} unexpected ({_listed(sorted(unexpected))})"
                )
            raise ValueError(
                f"submission {challenge.EVENT_ID}s do not match the expected "
                f"events: {'; '.join(problems)}"
            )


def write_submission(
    frame: pd.DataFrame, path: str, open_fn: Callable[..., IO[str]] = open
) -> None:
    """Validates a submission and writes it as the challenge's CSV.

    Args:
      frame: the submission, as from make_submission.
      path: where to write it.
      open_fn: opens `path` for writing text as open_fn(path, "w"); pass
        tf.io.gfile.GFile to write to cloud storage such as gs://.

    Raises:
      ValueError: the submission breaks a format rule (see validate_submission).
    """
    validate_submission(frame)
    # Rendered to a string first because not every file object open_fn returns
    # (GFile, for one) is one pandas can write to with its own line endings.
    text = frame.to_csv(
        index=False, columns=list(SUBMISSION_COLUMNS), lineterminator="\n"
    )
    with open_fn(path, "w") as handle:
        handle.write(text)
