"""Up, a real Pod, down, and up again: the host is put back each time (runs before the tier's
shared node starts: one node per machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from testbed.node import host, images
from testbed.node.network import NodeNetwork
from testbed.node.node import NODE_NAME, RealCluster
from tests.integration.kube_helpers import eventually

# Builds and starts what the tier needs in its set-up: beyond the default per-test limit.
pytestmark = pytest.mark.timeout(1200)


def run_a_pod(cluster: RealCluster) -> None:
    core = client.CoreV1Api(cluster.kube)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="sleeper"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="pause", image=images.PAUSE_IMAGE, image_pull_policy="Never"
                )
            ]
        ),
    )
    core.create_namespaced_pod("default", pod)

    def running() -> bool:
        status = core.read_namespaced_pod("sleeper", "default").status
        return status is not None and status.phase == "Running"

    eventually(running, 60, "a Pod running on the node")


def test_down_leaves_nothing_and_a_second_up_works() -> None:
    before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    for _ in range(2):
        with RealCluster() as cluster:
            node = client.CoreV1Api(cluster.kube).read_node(NODE_NAME)
            assert node.status is not None and node.status.node_info is not None
            assert node.status.node_info.container_runtime_version.startswith("containerd://")
            run_a_pod(cluster)
        # The Pod was deleted while the kubelet ran; then every process, mount, cgroup, chain,
        # interface, route and fixed path went.
        assert host.leftovers() == []
        assert NodeNetwork().leftovers() == []
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == before
