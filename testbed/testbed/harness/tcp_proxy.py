"""A loopback TCP forwarder in front of the API server, for one client's network faults.

Every replica of an HA test gets its own, so the test can cut one replica off while the others,
and the test itself, still reach the server. ``cut()`` is a silent partition, the hard kind: no
reset and no refusal, the client's bytes are swallowed and nothing comes back, so only a
client-side deadline notices. ``heal()`` forwards again; the connections that lived through the
cut are closed then, as a NAT that forgot them would, so nothing the client sent during the cut
ever reaches the server late.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(eq=False)
class _Link:
    downstream: socket.socket  # the client's side
    upstream: socket.socket | None  # None: accepted during a cut, never connected
    doomed: bool = False

    def close(self) -> None:
        for end in (self.downstream, self.upstream):
            if end is not None:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._cut = False
        self._stopped = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kubeconfig(self, kubeconfig: Path) -> Path:
        """A copy of ``kubeconfig`` that reaches the server through this proxy."""
        config: dict[str, Any] = yaml.safe_load(kubeconfig.read_text())
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"https://{self.address}"
        proxied = kubeconfig.with_name(f"{kubeconfig.name}-via-{self.port}")
        proxied.write_text(yaml.safe_dump(config))
        return proxied

    def start(self) -> TcpProxy:
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for link in self._links:
                link.doomed = True

    def heal(self) -> None:
        with self._lock:
            self._cut = False
            doomed = [link for link in self._links if link.doomed]
            self._links = [link for link in self._links if not link.doomed]
        for link in doomed:
            link.close()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                cut = self._cut
            upstream = None if cut else socket.create_connection(self.target)
            link = _Link(downstream, upstream, doomed=cut)
            with self._lock:
                self._links.append(link)
            self._pump(link, downstream, upstream)
            if upstream is not None:
                self._pump(link, upstream, downstream)

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket | None) -> None:
        def forward() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                if link.doomed or sink is None:
                    continue  # swallowed: the partition
                try:
                    sink.sendall(data)
                except OSError:
                    break
            if not link.doomed:
                link.close()

        threading.Thread(target=forward, name="tcp-proxy-pump", daemon=True).start()
