"""Names, sizes and constants of the ATLAS Higgs Machine Learning Challenge data."""

EVENT_ID = "EventId"
WEIGHT = "Weight"
LABEL = "Label"
SIGNAL_LABEL = "s"
BACKGROUND_LABEL = "b"

# The value the challenge writes where a feature is undefined for an event.
MISSING_VALUE = -999.0

# The 30 features, in the column order of the challenge's files.
DERIVED_FEATURES = (
    "DER_mass_MMC",
    "DER_mass_transverse_met_lep",
    "DER_mass_vis",
    "DER_pt_h",
    "DER_deltaeta_jet_jet",
    "DER_mass_jet_jet",
    "DER_prodeta_jet_jet",
    "DER_deltar_tau_lep",
    "DER_pt_tot",
    "DER_sum_pt",
    "DER_pt_ratio_lep_tau",
    "DER_met_phi_centrality",
    "DER_lep_eta_centrality",
)
PRIMITIVE_FEATURES = (
    "PRI_tau_pt",
    "PRI_tau_eta",
    "PRI_tau_phi",
    "PRI_lep_pt",
    "PRI_lep_eta",
    "PRI_lep_phi",
    "PRI_met",
    "PRI_met_phi",
    "PRI_met_sumet",
    "PRI_jet_num",
    "PRI_jet_leading_pt",
    "PRI_jet_leading_eta",
    "PRI_jet_leading_phi",
    "PRI_jet_subleading_pt",
    "PRI_jet_subleading_eta",
    "PRI_jet_subleading_phi",
    "PRI_jet_all_pt",
)
FEATURES = DERIVED_FEATURES + PRIMITIVE_FEATURES

# The one integer feature: the number of jets, 0 to 3 (3 meaning three or more).
JET_COUNT = "PRI_jet_num"
MAX_JET_COUNT = 3
FLOAT_FEATURES = tuple(name for name in FEATURES if name != JET_COUNT)

# Features the challenge leaves undefined (-999.0) without a leading jet, and
# those undefined with fewer than two jets.
NEEDS_ONE_JET = ("PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi")
NEEDS_TWO_JETS = (
    "PRI_jet_subleading_pt",
    "PRI_jet_subleading_eta",
    "PRI_jet_subleading_phi",
    "DER_deltaeta_jet_jet",
    "DER_mass_jet_jet",
    "DER_prodeta_jet_jet",
    "DER_lep_eta_centrality",
)

# Columns of Kaggle's files.
TRAINING_COLUMNS = (EVENT_ID, *FEATURES, WEIGHT, LABEL)
TEST_COLUMNS = (EVENT_ID, *FEATURES)

# Extra columns of the CERN Open Data release: which challenge set an event
# belonged to, and the weight as Kaggle's training.csv gave it.
KAGGLE_SET = "KaggleSet"
KAGGLE_WEIGHT = "KaggleWeight"
KAGGLE_TRAINING_SET = "t"
OPEN_DATA_COLUMNS = (EVENT_ID, *FEATURES, WEIGHT, LABEL, KAGGLE_SET, KAGGLE_WEIGHT)

# Sums of the event weights per class over the challenge's training set: AMS
# is computed after scaling each class's weights to these totals, so that a
# sample of any size and class balance is scored as the full challenge would be.
SIGNAL_WEIGHT_TOTAL = 691.988607712
BACKGROUND_WEIGHT_TOTAL = 410999.847322
# Regularisation term of the challenge's AMS.
AMS_B_REG = 10.0

# Sizes of Kaggle's files.
KAGGLE_TRAINING_EVENTS = 250_000
KAGGLE_TEST_EVENTS = 550_000
