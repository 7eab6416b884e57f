"""Where the API server is and how to authenticate: from a kubeconfig or from inside a Pod."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes.client import Configuration


@dataclass(frozen=True)
class Connection:
    """Everything an HTTP client needs to talk to one API server as one identity."""

    server: str
    ca_file: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def auth_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @classmethod
    def from_kubeconfig(
        cls, path: str | Path | None = None, context: str | None = None
    ) -> Connection:
        """Read a kubeconfig (default: $KUBECONFIG or ~/.kube/config), as kubectl would."""
        # Only for its kubeconfig and in-cluster loaders, which handle every auth plugin and
        # edge case; imported here because it takes a second, which tools that never read a
        # kubeconfig should not pay.
        from kubernetes import client, config  # noqa: PLC0415

        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path) if path else None,
            context=context,
            client_configuration=configuration,
        )
        return cls._from_configuration(configuration)

    @classmethod
    def in_cluster(cls) -> Connection:
        """The ServiceAccount of the Pod this runs in."""
        from kubernetes import client, config  # noqa: PLC0415

        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls._from_configuration(configuration)

    @classmethod
    def auto(cls) -> Connection:
        """In a Pod, its ServiceAccount; elsewhere the kubeconfig."""
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            return cls.in_cluster()
        return cls.from_kubeconfig()

    @classmethod
    def _from_configuration(cls, configuration: Configuration) -> Connection:
        api_key = getattr(configuration, "api_key", {}) or {}
        authorization = api_key.get("authorization") or api_key.get("BearerToken") or ""
        token = authorization.removeprefix("Bearer ").strip() or None
        return cls(
            server=str(configuration.host).rstrip("/"),
            ca_file=getattr(configuration, "ssl_ca_cert", None),
            verify=bool(getattr(configuration, "verify_ssl", True)),
            cert_file=getattr(configuration, "cert_file", None),
            key_file=getattr(configuration, "key_file", None),
            token=token,
        )
