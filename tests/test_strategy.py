"""The strategy chooser: on this machine, and with a TPU resolver that finds one or not.

No TPU is here, so where one is found the TF calls that would talk to it are
replaced by recording fakes; nothing may build a resolver without an address,
which would ask a cloud metadata server.
"""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from models import strategy

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _assert_this_machines_strategy(chosen):
    """Without a TPU: several GPUs are mirrored over, else the default strategy."""
    assert not isinstance(chosen, tf.distribute.TPUStrategy)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        assert isinstance(chosen, tf.distribute.MirroredStrategy)
    else:
        assert chosen is tf.distribute.get_strategy()
        assert chosen.num_replicas_in_sync == 1


class _FakeResolver:
    """Stands for a TPUClusterResolver that found a TPU."""

    def __init__(self, tpu: str):
        self.tpu = tpu


@pytest.fixture
def tpu_calls(monkeypatch):
    """Replaces connecting, initializing and TPUStrategy with recorders."""
    calls = []

    class FakeTPUStrategy:
        num_replicas_in_sync = 8

        def __init__(self, resolver):
            calls.append(("TPUStrategy", resolver))

    monkeypatch.setattr(
        tf.config,
        "experimental_connect_to_cluster",
        lambda resolver: calls.append(("connect", resolver)),
    )
    monkeypatch.setattr(
        tf.tpu.experimental,
        "initialize_tpu_system",
        lambda resolver: calls.append(("initialize", resolver)),
    )
    monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
    return calls


def test_found_tpu_is_connected_initialized_then_used(tpu_calls):
    asked = []

    def finder(address):
        asked.append(address)
        return _FakeResolver(address)

    chosen = strategy.choose_strategy("local", tpu_finder=finder)

    assert asked == ["local"]
    resolver = tpu_calls[0][1]
    assert resolver.tpu == "local"
    # The TPU system must be connected to and initialized before the strategy
    # is built on it, all with the one resolver.
    assert tpu_calls == [
        ("connect", resolver),
        ("initialize", resolver),
        ("TPUStrategy", resolver),
    ]
    assert isinstance(chosen, tf.distribute.TPUStrategy)
    assert chosen.num_replicas_in_sync == 8


def test_no_tpu_found_falls_back_to_this_machine():
    # The real code throughout: no TPU call may be made, and the strategy is
    # what this machine offers (one CPU here, or several GPUs).
    asked = []

    def finder(address):
        asked.append(address)
        return None

    chosen = strategy.choose_strategy(None, tpu_finder=finder)

    assert asked == [None]
    _assert_this_machines_strategy(chosen)


def test_tpu_vm_devices_mean_local(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr(
        strategy.glob,
        "glob",
        lambda pattern: ["/dev/accel0"] if pattern.startswith("/dev/accel") else [],
    )
    assert strategy._tpu_address_from_machine() == "local"


def test_tpu_name_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert strategy._tpu_address_from_machine() == "my-tpu"


def test_find_tpu_builds_the_resolver_for_the_given_address(monkeypatch):
    monkeypatch.setattr(
        tf.distribute.cluster_resolver, "TPUClusterResolver", _FakeResolver
    )
    resolver = strategy.find_tpu("grpc://10.0.0.2:8470")
    assert isinstance(resolver, _FakeResolver)
    assert resolver.tpu == "grpc://10.0.0.2:8470"


def test_find_tpu_returns_none_when_the_named_tpu_is_not_there(monkeypatch):
    def missing(tpu):
        raise ValueError(f"TPU {tpu} not found")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", missing)
    assert strategy.find_tpu("no-such-tpu") is None


def test_asking_for_the_local_tpu_without_one_is_an_error():
    # What a Vertex AI TPU job asks for. Real code, in a child process because
    # connecting reconfigures TensorFlow's context, and with sockets cut off:
    # a "local" resolver must not need the network.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket\n"
            "def cut(*args, **kwargs):\n"
            "    raise AssertionError(f'network: {args}')\n"
            "socket.socket.connect = socket.create_connection = cut\n"
            "socket.getaddrinfo = cut\n"
            "import tensorflow as tf\n"
            "from models import strategy\n"
            "try:\n"
            "    strategy.choose_strategy('local')\n"
            "except tf.errors.NotFoundError as error:\n"
            "    print('no TPU:', str(error)[:60])\n",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert "no TPU: TPUs not found" in child.stdout


def test_strategy_on_this_machine_is_the_default_one():
    _assert_this_machines_strategy(strategy.choose_strategy())


def test_no_tpu_named_or_attached_means_no_resolver(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr(strategy.glob, "glob", lambda pattern: [])
    assert strategy.find_tpu(None) is None
