"""Where the API server is and how to authenticate: from a kubeconfig or from inside a Pod."""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._credentials import (
    ReloadingToken,
    StaticToken,
    TokenFile,
    TokenSource,
    subject_of,
    without_scheme,
)
from ._errors import ConfigError

if TYPE_CHECKING:
    from kubernetes.client import Configuration

# Where the kubelet mounts a Pod's ServiceAccount (the fixed in-cluster path).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    """Everything an HTTP client needs to talk to one API server as one identity.

    The token is asked for on every request (``bearer_token()``), because a Pod's token file
    and an exec plugin's token change while the process runs.
    """

    server: str
    ca_file: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = field(default=None, repr=False)  # a fixed token; see ``credentials``
    headers: dict[str, str] = field(default_factory=dict)
    credentials: TokenSource | None = field(default=None, compare=False)
    # Who this is, for messages: never the token, only where it came from.
    identity: str = ""

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def bearer_token(self) -> str | None:
        """The token to send with the next request (read again when it may have changed)."""
        if self.credentials is not None:
            return self.credentials.token()
        return self.token

    def refresh_token(self) -> bool:
        """After a 401: read the token again; True if a retry with the new one is worth it."""
        return self.credentials is not None and self.credentials.refresh()

    def auth_headers(self) -> dict[str, str]:
        """The headers for one request now (the token as it is at this moment)."""
        headers = dict(self.headers)
        token = self.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def describe(self) -> str:
        """Who the API server is talking to, for an error message: no secret in it."""
        parts = [self.identity] if self.identity else []
        subject = subject_of(self.bearer_token())
        if subject and subject not in self.identity:
            parts.append(subject)
        if self.credentials is not None and self.credentials.origin not in self.identity:
            parts.append(self.credentials.origin)
        return ", ".join(parts) or "anonymous"

    @classmethod
    def from_kubeconfig(
        cls, path: str | Path | None = None, context: str | None = None
    ) -> Connection:
        """Read a kubeconfig (default: $KUBECONFIG or ~/.kube/config), as kubectl would."""
        # Only for its kubeconfig loader, which handles every auth plugin and edge case;
        # imported here because it takes a second, which tools that never read a kubeconfig
        # should not pay.
        from kubernetes.config import kube_config  # noqa: PLC0415

        def load() -> tuple[Configuration, Any]:
            from kubernetes import client  # noqa: PLC0415

            configuration = client.Configuration()
            loader = kube_config._get_kube_config_loader(  # type: ignore[no-untyped-call]
                filename=str(path) if path else os.environ.get("KUBECONFIG", "~/.kube/config"),
                active_context=context,
            )
            loader.load_and_set(configuration)
            return configuration, loader

        configuration, loader = load()
        user = loader._user  # the loader has no public view of the user entry
        current = loader.current_context
        identity = f"kubeconfig user {current['context'].get('user')} ({current['name']})"
        credentials: TokenSource | None = None
        token = _bearer_of(configuration)
        if user is not None and user.safe_get("tokenFile") and not user.safe_get("token"):
            base = Path(loader._get_base_path(user.path))
            credentials = TokenFile(base / user["tokenFile"])
        elif user is not None and (user.safe_get("exec") or user.safe_get("auth-provider")):
            holder = [configuration]

            def current() -> str | None:
                hook = holder[0].refresh_api_key_hook
                if hook is not None:
                    hook(holder[0])  # re-runs the plugin once its token has expired
                return _bearer_of(holder[0])

            def reload() -> str | None:
                holder[0] = load()[0]
                return _bearer_of(holder[0])

            credentials = ReloadingToken(identity, current, reload)
        elif token:
            credentials = StaticToken(token, identity)
        return cls._from_configuration(configuration, credentials, identity)

    @classmethod
    def in_cluster(cls, service_account_dir: str | Path = SERVICE_ACCOUNT_DIR) -> Connection:
        """The ServiceAccount of the Pod this runs in, its token re-read as the kubelet
        rotates it."""
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
        directory = Path(service_account_dir)
        token_file, ca_file = directory / "token", directory / "ca.crt"
        if not host or not port:
            raise ConfigError(
                "not in a Pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
            )
        for needed in (token_file, ca_file):
            if not needed.is_file():
                raise ConfigError(
                    f"in a Pod, but {needed} is missing: is automountServiceAccountToken off?"
                )
        if ":" in host:  # an IPv6 address
            host = f"[{ipaddress.ip_address(host)}]"
        namespace_file = directory / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "?"
        return cls(
            server=f"https://{host}:{port}",
            ca_file=str(ca_file),
            credentials=TokenFile(token_file),
            identity=f"the Pod's ServiceAccount (namespace {namespace})",
        )

    @classmethod
    def auto(cls) -> Connection:
        """In a Pod, its ServiceAccount; elsewhere the kubeconfig."""
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            return cls.in_cluster()
        return cls.from_kubeconfig()

    @classmethod
    def _from_configuration(
        cls, configuration: Configuration, credentials: TokenSource | None, identity: str
    ) -> Connection:
        return cls(
            server=str(configuration.host).rstrip("/"),
            ca_file=getattr(configuration, "ssl_ca_cert", None),
            verify=bool(getattr(configuration, "verify_ssl", True)),
            cert_file=getattr(configuration, "cert_file", None),
            key_file=getattr(configuration, "key_file", None),
            credentials=credentials,
            identity=identity,
        )


def _bearer_of(configuration: Configuration) -> str | None:
    api_key = getattr(configuration, "api_key", {}) or {}
    authorization = api_key.get("authorization") or api_key.get("BearerToken") or ""
    return without_scheme(authorization)
