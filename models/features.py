"""The physics of the model's inputs, as pure TensorFlow functions of raw events.

No analyzers here: preprocessing_fn scales what these return, and tests can
check the maths on hand-made events without Beam.
"""

import math

import tensorflow as tf

from pipeline import challenge

# The reconstructed objects of an event, in the order the model reads them.
OBJECTS = ("tau", "lepton", "met", "leading_jet", "subleading_jet")
# Raw (pt, eta, phi) columns of each object; the missing energy has no eta.
OBJECT_COLUMNS = {
    "tau": ("PRI_tau_pt", "PRI_tau_eta", "PRI_tau_phi"),
    "lepton": ("PRI_lep_pt", "PRI_lep_eta", "PRI_lep_phi"),
    "met": ("PRI_met", None, "PRI_met_phi"),
    "leading_jet": (
        "PRI_jet_leading_pt",
        "PRI_jet_leading_eta",
        "PRI_jet_leading_phi",
    ),
    "subleading_jet": (
        "PRI_jet_subleading_pt",
        "PRI_jet_subleading_eta",
        "PRI_jet_subleading_phi",
    ),
}
# Per-object quantities, before the one-hot of the object's type.
KINEMATICS = ("log_pt", "eta", "sin_phi", "cos_phi", "present")
OBJECT_WIDTH = len(KINEMATICS) + len(OBJECTS)

# Energies, momenta and masses spread over orders of magnitude; their log is
# closer to a bell and keeps a few hard events from dominating the scaling.
LOG_SCALED = (
    "DER_mass_MMC",
    "DER_mass_transverse_met_lep",
    "DER_mass_vis",
    "DER_pt_h",
    "DER_mass_jet_jet",
    "DER_pt_tot",
    "DER_sum_pt",
    "DER_pt_ratio_lep_tau",
    "PRI_met_sumet",
    "PRI_jet_all_pt",
)
LINEAR = (
    "DER_deltaeta_jet_jet",
    "DER_prodeta_jet_jet",
    "DER_deltar_tau_lep",
    "DER_met_phi_centrality",
    "DER_lep_eta_centrality",
)
# Derived here from the primitive features (see event_scalars).
EXTRA = (
    "log_mt_tau_met",
    "delta_eta_tau_lep",
    "log_mass_collinear",
    "log_mass_tau_jet",
    "log_mass_lep_jet",
    "log_met_significance",
)
EVENT_SCALARS = LOG_SCALED + LINEAR + EXTRA
# Event-level features that can be undefined, each given an indicator. The jet
# ones only follow the jet count, but the mass estimates fail on their own and
# mean something when they do.
MAY_BE_MISSING = (
    "DER_mass_MMC",
    "DER_mass_jet_jet",
    "DER_deltaeta_jet_jet",
    "DER_prodeta_jet_jet",
    "DER_lep_eta_centrality",
    "log_mass_collinear",
)
# Below this |sin| of the tau-lepton azimuthal gap the two are back to back (or
# aligned), and the missing energy cannot be split between them.
COLLINEAR_MIN_SINE = 1e-3


def is_present(values: tf.Tensor) -> tf.Tensor:
    """True where a raw value is a measurement, False where it is -999.0."""
    return tf.not_equal(values, challenge.MISSING_VALUE)


def log_scale(values: tf.Tensor) -> tf.Tensor:
    """log(1 + x) of present non-negative values; 0.0 where the value is missing."""
    present = is_present(values)
    return tf.where(present, tf.math.log1p(tf.maximum(values, 0.0)), 0.0)


def wrap_angle(angle: tf.Tensor) -> tf.Tensor:
    """An azimuthal angle brought into [-pi, pi)."""
    return tf.math.floormod(angle + math.pi, 2.0 * math.pi) - math.pi


def orientation(raw: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    """The event's mirror signs: (eta_sign, phi_sign), each +1.0 or -1.0 per event.

    The detector is symmetric under eta -> -eta and phi -> -phi, so each event
    is mirrored to put the tau at eta >= 0 and the lepton at phi >= 0 relative
    to the tau; the model then never has to learn both halves of the detector.
    """
    eta_sign = tf.where(raw["PRI_tau_eta"] < 0.0, -1.0, 1.0)
    lepton_phi = wrap_angle(raw["PRI_lep_phi"] - raw["PRI_tau_phi"])
    phi_sign = tf.where(lepton_phi < 0.0, -1.0, 1.0)
    return eta_sign, phi_sign


def object_kinematics(raw: dict[str, tf.Tensor]) -> dict[str, dict[str, tf.Tensor]]:
    """Each object's log pt, mirrored eta, and phi relative to the tau's.

    Args:
      raw: the 30 raw features, each a float tensor of shape [batch].

    Returns:
      For each object in OBJECTS, a dict with the KINEMATICS keys, each of
      shape [batch]. Phi comes as the sine and cosine of the angle to the tau
      (so -pi and pi are one direction); a missing jet is all zeros with
      present 0.0. log_pt and eta are not yet scaled.
    """
    eta_sign, phi_sign = orientation(raw)
    tau_phi = raw["PRI_tau_phi"]
    objects = {}
    for name in OBJECTS:
        pt_column, eta_column, phi_column = OBJECT_COLUMNS[name]
        pt = raw[pt_column]
        present = is_present(pt)
        eta = raw[eta_column] * eta_sign if eta_column else tf.zeros_like(pt)
        phi = wrap_angle(raw[phi_column] - tau_phi) * phi_sign
        objects[name] = {
            "log_pt": log_scale(pt),
            "eta": tf.where(present, eta, 0.0),
            "sin_phi": tf.where(present, tf.sin(phi), 0.0),
            "cos_phi": tf.where(present, tf.cos(phi), 0.0),
            "present": tf.cast(present, tf.float32),
        }
    return objects


def stack_objects(objects: dict[str, dict[str, tf.Tensor]]) -> tf.Tensor:
    """The objects as one flat vector per event: [batch, len(OBJECTS) * OBJECT_WIDTH].

    Each object's slot holds its KINEMATICS followed by a one-hot of its type,
    so a sequence model reading slot by slot knows which object it is on.
    """
    slots = []
    for index, name in enumerate(OBJECTS):
        kinematics = [objects[name][key] for key in KINEMATICS]
        batch = tf.shape(kinematics[0])
        one_hot = [
            tf.fill(batch, 1.0 if other == index else 0.0)
            for other in range(len(OBJECTS))
        ]
        slots.append(tf.stack(kinematics + one_hot, axis=1))
    return tf.concat(slots, axis=1)


def transverse_mass(pt_a, phi_a, pt_b, phi_b) -> tf.Tensor:
    """sqrt(2 pt_a pt_b (1 - cos(phi_a - phi_b))): the mass in the transverse plane."""
    squared = 2.0 * pt_a * pt_b * (1.0 - tf.cos(phi_a - phi_b))
    return tf.sqrt(tf.maximum(squared, 0.0))


def invariant_mass(pt_a, eta_a, phi_a, pt_b, eta_b, phi_b) -> tf.Tensor:
    """The mass of two massless objects: sqrt(2 pt_a pt_b (cosh(deta) - cos(dphi)))."""
    squared = 2.0 * pt_a * pt_b * (tf.cosh(eta_a - eta_b) - tf.cos(phi_a - phi_b))
    return tf.sqrt(tf.maximum(squared, 0.0))


def collinear_mass(raw: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    """The di-tau mass in the collinear approximation, and where it is defined.

    A tau decays into visible products and neutrinos flying the same way, so
    the missing transverse energy is taken as the sum of two neutrino systems,
    one along the tau, one along the lepton. Solving for their momenta a and b
    gives the visible momentum fractions x = pt / (pt + neutrino pt), and the
    mass is m_vis / sqrt(x_tau x_lepton). It is undefined (0.0, False) when a
    neutrino would point backwards or the two visible objects are back to back.

    Returns:
      (mass, defined), each of shape [batch].
    """
    tau_phi, lepton_phi, met_phi = (
        raw["PRI_tau_phi"],
        raw["PRI_lep_phi"],
        raw["PRI_met_phi"],
    )
    sine = tf.sin(lepton_phi - tau_phi)
    solvable = tf.abs(sine) > COLLINEAR_MIN_SINE
    safe_sine = tf.where(solvable, sine, 1.0)
    along_tau = raw["PRI_met"] * tf.sin(lepton_phi - met_phi) / safe_sine
    along_lepton = raw["PRI_met"] * tf.sin(met_phi - tau_phi) / safe_sine
    defined = solvable & (along_tau >= 0.0) & (along_lepton >= 0.0)
    inverse_fractions = (1.0 + along_tau / raw["PRI_tau_pt"]) * (
        1.0 + along_lepton / raw["PRI_lep_pt"]
    )
    mass = raw["DER_mass_vis"] * tf.sqrt(tf.maximum(inverse_fractions, 0.0))
    return tf.where(defined, mass, 0.0), defined


def event_scalars(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Event-level features, unscaled, keyed by EVENT_SCALARS.

    Log-scaled energies and masses, the other derived features as they are,
    and EXTRA, built from the primitives: the tau-missing energy transverse
    mass, the tau-lepton eta gap, the collinear mass, the masses of the tau
    and of the lepton with the leading jet, and the missing energy over the
    square root of the scalar sum of transverse energy (how far it stands out
    of resolution). Undefined values come out as 0.0; where they are, see
    event_presence.
    """
    scalars = {name: log_scale(raw[name]) for name in LOG_SCALED}
    for name in LINEAR:
        scalars[name] = tf.where(is_present(raw[name]), raw[name], 0.0)
    scalars["log_mt_tau_met"] = tf.math.log1p(
        transverse_mass(
            raw["PRI_tau_pt"], raw["PRI_tau_phi"], raw["PRI_met"], raw["PRI_met_phi"]
        )
    )
    scalars["delta_eta_tau_lep"] = tf.abs(raw["PRI_tau_eta"] - raw["PRI_lep_eta"])
    scalars["log_mass_collinear"] = tf.math.log1p(collinear_mass(raw)[0])
    has_jet = is_present(raw["PRI_jet_leading_pt"])
    jet = [raw[name] for name in OBJECT_COLUMNS["leading_jet"]]
    for key, name in (("log_mass_tau_jet", "tau"), ("log_mass_lep_jet", "lepton")):
        pt, eta, phi = (raw[column] for column in OBJECT_COLUMNS[name])
        scalars[key] = tf.where(
            has_jet, tf.math.log1p(invariant_mass(pt, eta, phi, *jet)), 0.0
        )
    significance = raw["PRI_met"] / tf.sqrt(tf.maximum(raw["PRI_met_sumet"], 1.0))
    scalars["log_met_significance"] = tf.math.log1p(tf.maximum(significance, 0.0))
    return scalars


def event_presence(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Where each of EVENT_SCALARS is defined: bool [batch] per name."""
    presence = {name: is_present(raw[name]) for name in LOG_SCALED + LINEAR}
    always = tf.ones_like(raw["PRI_tau_pt"], dtype=tf.bool)
    presence["log_mt_tau_met"] = always
    presence["delta_eta_tau_lep"] = always
    presence["log_mass_collinear"] = collinear_mass(raw)[1]
    has_jet = is_present(raw["PRI_jet_leading_pt"])
    presence["log_mass_tau_jet"] = has_jet
    presence["log_mass_lep_jet"] = has_jet
    presence["log_met_significance"] = always
    return presence


def missing_indicators(presence: dict[str, tf.Tensor]) -> tf.Tensor:
    """1.0 where each MAY_BE_MISSING feature is undefined: [batch, features].

    Args:
      presence: what event_presence returns, so that it is worked out once.
    """
    return tf.stack(
        [1.0 - tf.cast(presence[name], tf.float32) for name in MAY_BE_MISSING],
        axis=1,
    )


def jet_count_one_hot(jet_count: tf.Tensor) -> tf.Tensor:
    """The jet count (0 to 3) as a one-hot: [batch, MAX_JET_COUNT + 1]."""
    count = tf.clip_by_value(tf.cast(jet_count, tf.int32), 0, challenge.MAX_JET_COUNT)
    return tf.one_hot(count, challenge.MAX_JET_COUNT + 1, dtype=tf.float32)
