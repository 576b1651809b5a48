"""A real multi-node Ray cluster on this machine, for tests and benchmarks: a head node and worker nodes,
each its own raylet and object store, all on the loopback interface.

    >>> with local_cluster(worker_nodes=2) as cluster:
    ...     summary = vb_plugins.distributed.predict("depth", "photos/", "out/", workers=2)

Also a pytest plugin (``pytest_plugins = ["vb_plugins.testing.ray_cluster"]``): the session fixture
``ray_cluster`` starts one such cluster for the whole test session and shuts it down at the end.

The head node holds no CPUs, so work lands on the worker nodes. Every node, and the driver, uses
127.0.0.1: Ray otherwise advertises the machine's outward address, which a sandbox may not route back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass
class LocalCluster:
    """A running cluster: ``cluster`` (``ray.cluster_utils.Cluster``), ``address``, ``worker_nodes``."""

    cluster: object
    address: str
    worker_nodes: list

    def worker_node_ids(self) -> list[str]:
        return [node.node_id for node in self.worker_nodes]

    def reconnect(self, runtime_env: dict | None = None) -> None:
        """Connect this process again, as a new Ray job (``runtime_env``: the job's, for every worker)."""
        import ray

        ray.shutdown()
        ray.init(address=self.address, _node_ip_address=LOOPBACK, logging_level="WARNING", runtime_env=runtime_env)


def _loopback_only() -> None:
    """Make Ray advertise 127.0.0.1 (set before the first import of ray in this process; read again by
    every Ray process the cluster starts, which inherit the environment)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = __import__("sys").modules.get("ray._private.ray_constants")
    if constants is not None:  # ray was imported already: the constant was read at import
        constants.ENABLE_RAY_CLUSTER = False


@contextlib.contextmanager
def local_cluster(worker_nodes: int = 2, cpus_per_node: float = 1, head_cpus: float = 0,
                  object_store_mb: int = 100, connect: bool = True):
    """Start a head node and ``worker_nodes`` worker nodes (``cpus_per_node`` logical CPUs each), connect
    this process (``connect``), and shut everything down on exit."""
    _loopback_only()
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix="vbray-")  # short: Ray's socket paths live below it
    store = object_store_mb * 1024 * 1024
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": head_cpus, "node_ip_address": LOOPBACK, "include_dashboard": False,
        "object_store_memory": store, "temp_dir": temp_dir})
    try:
        nodes = [cluster.add_node(num_cpus=cpus_per_node, node_ip_address=LOOPBACK, object_store_memory=store,
                                  temp_dir=temp_dir)
                 for _ in range(worker_nodes)]
        cluster.wait_for_nodes()
        if connect:
            ray.init(address=cluster.address, _node_ip_address=LOOPBACK, logging_level="WARNING")
        yield LocalCluster(cluster, cluster.address, nodes)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _fixture():
    import pytest

    @pytest.fixture(scope="session")
    def ray_cluster():
        """A head node (no CPUs) and two worker nodes with one CPU each, so two workers run on two nodes."""
        with local_cluster(worker_nodes=2, cpus_per_node=1) as cluster:
            yield cluster

    return ray_cluster


try:
    ray_cluster = _fixture()
except ImportError:  # pytest absent: the context manager still works
    pass
