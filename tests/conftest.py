"""Shared test fixtures: paths to real data and small challenge-format files."""

import os

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_SAMPLE = os.path.join(
    os.path.dirname(REPO_ROOT), "shared", "data", "atlas-higgs-sample.csv"
)


@pytest.fixture
def real_sample() -> str:
    """The 5,998 real challenge events, when ../shared is beside the checkout."""
    if not os.path.exists(REAL_SAMPLE):
        pytest.skip(f"real challenge sample not found at {REAL_SAMPLE}")
    return REAL_SAMPLE


def curated_schema() -> schema_pb2.Schema:
    """The schema in schema/, which the pipeline validates and transforms with."""
    return io_utils.parse_pbtxt_file(
        os.path.join(REPO_ROOT, "schema", "schema.pbtxt"), schema_pb2.Schema()
    )
