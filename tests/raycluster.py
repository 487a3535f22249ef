"""A real local Ray cluster for the Ray executor's tests: a head with no CPUs (it only
coordinates) and two worker nodes of one CPU each, all on 127.0.0.1, from Ray's own
``ray.cluster_utils.Cluster``; always shut down by the fixture that starts it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# Before Ray is imported: keep the cluster on loopback (Ray would otherwise rewrite 127.0.0.1 to
# this machine's outward address). Inherited by the nodes and the server under test.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from ray.cluster_utils import Cluster  # after the environment is set

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[Cluster]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "node_ip_address": "127.0.0.1",
            "object_store_memory": 80 * 2**20,
        },
    )
    try:
        for _ in range(workers):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def node_with_id(cluster: Cluster, node_id: str):
    """The worker node whose Ray node id is ``node_id``."""
    return next(n for n in cluster.worker_nodes if n.node_id == node_id)
