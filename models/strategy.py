"""Chooses where the model trains: a TPU if one is reachable, else GPUs or the CPU."""

import glob
import os
from collections.abc import Callable

import tensorflow as tf
from absl import logging


def _tpu_address_from_machine() -> str | None:
    """Names the TPU to use without asking any server.

    A TPU VM (what Vertex AI trains on) exposes its chips as /dev/accel* or
    /dev/vfio devices, and Cloud TPU set-ups name remote TPUs in TPU_NAME. The
    resolver is not asked blindly because, off Google Cloud, it waits on a
    metadata server that is not there.
    """
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*"):
        return "local"
    return None


def find_tpu(tpu_address: str | None):
    """Returns a TPU cluster resolver, or None when no TPU is reachable."""
    tpu_address = tpu_address or _tpu_address_from_machine()
    if tpu_address is None:
        return None
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
    except (ValueError, tf.errors.NotFoundError) as error:
        logging.warning("No TPU at %r (%s); training without one", tpu_address, error)
        return None


def choose_strategy(
    tpu_address: str | None = None,
    tpu_finder: Callable[[str | None], object | None] = find_tpu,
) -> tf.distribute.Strategy:
    """Returns the distribution strategy the model is built and trained under.

    `TPUStrategy` when a TPU is reachable, `MirroredStrategy` over the GPUs
    when there are more than one, `MirroredStrategy` over the logical CPUs
    when there is no GPU and the process has split its CPU into several
    (`tf.config.set_logical_device_configuration`, before TensorFlow starts),
    the default (single-device) strategy otherwise.

    Args:
      tpu_address: the TPU's name or gRPC address, or "local" on a TPU VM;
        None looks at this machine and its environment for one.
      tpu_finder: returns a TPU cluster resolver for `tpu_address`, or None
        when no TPU is reachable.
    """
    resolver = tpu_finder(tpu_address)
    if resolver is not None:
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        logging.info("Training on TPU: %d replicas", strategy.num_replicas_in_sync)
        return strategy

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
        logging.info("Training on %d GPUs with MirroredStrategy", len(gpus))
        return strategy

    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        # A CPU is one logical device unless split on purpose, so this is the
        # multi-replica path run without an accelerator (as the tests do).
        strategy = tf.distribute.MirroredStrategy([cpu.name for cpu in cpus])
        logging.info("Training on %d logical CPUs with MirroredStrategy", len(cpus))
        return strategy

    logging.info("Training on %s", gpus[0].name if gpus else "the CPU")
    return tf.distribute.get_strategy()
