"""A cache's watch on a connection that dies in silence (a NAT or load balancer forgot it): the
real API server behind a TCP proxy that swallows everything, with no reset and no refusal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from reactivejob.engine.informer import Informer
from reactivejob_api import Connection
from reactivejob_api.aio import AsyncConfigMapClient
from testbed import ControlPlane
from testbed.harness.tcp_proxy import TcpProxy
from tests.integration.kube_helpers import Cluster

WATCH_TIMEOUT = 2  # seconds the server keeps a watch open: this test's stand-in for 300


async def until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds it took for ``condition`` to hold."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_a_watch_on_a_silently_dead_connection_ends_and_readiness_shows_it(
    control_plane: ControlPlane, cluster: Cluster
) -> None:
    proxy = TcpProxy(control_plane.host, control_plane.api_port).start()
    connection = Connection.from_kubeconfig(proxy.kubeconfig(control_plane.kubeconfig))
    core = client.CoreV1Api(cluster.api)

    async def scenario() -> None:
        maps = AsyncConfigMapClient(connection)
        seen: dict[str, Any] = {}
        informer: Informer[str] = Informer(
            maps,
            cluster.namespace,
            lambda raw, _old: str(raw["metadata"]["name"]),
            lambda key, _old, new: seen.__setitem__(key[1], new),
            watch_timeout=WATCH_TIMEOUT,
        )
        task = asyncio.create_task(informer.run())
        try:
            await until(lambda: informer.synced.is_set() and informer.watching, 20)
            proxy.cut()
            # The server would end the watch after 2 s; on our side it is given 2 x 1.1 + 5 s.
            gone = await until(lambda: not informer.watching, 20)
            print(f"a silently dead watch noticed after {gone:.1f}s (server timeout 2 s)")
            assert gone < WATCH_TIMEOUT * 1.1 + 5 + 2
            # Retried while the network is still cut: it must not read as watching again.
            await asyncio.sleep(WATCH_TIMEOUT * 1.1 + 5 + 1)
            assert not informer.watching
            proxy.heal()
            await until(lambda: informer.watching, 60)
            await asyncio.to_thread(
                core.create_namespaced_config_map,
                cluster.namespace,
                client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after")),
            )
            await until(lambda: "after" in seen, 20)
        finally:
            task.cancel()
            await maps.close()

    try:
        asyncio.run(scenario())
    finally:
        proxy.stop()
