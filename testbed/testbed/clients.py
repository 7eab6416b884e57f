"""A ``kubernetes`` ApiClient for a kubeconfig: what tests, benchmarks and the demo talk with."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config


def api_client(kubeconfig: Path, pool: int = 16) -> client.ApiClient:
    """The kubeconfig's identity; ``pool`` connections, so client threads do not queue for one."""
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = pool
    return client.ApiClient(configuration)
