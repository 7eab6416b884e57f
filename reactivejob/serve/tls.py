"""A server's certificate from a folder (tls.crt, tls.key), reloaded in place when the files
change: cert-manager or the kubelet swaps them, new TLS handshakes use the new pair, and the
listener never restarts."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

log = logging.getLogger(__name__)


class ReloadingCertificate:
    def __init__(self, cert_dir: Path, reload_interval: float = 10.0) -> None:
        self.certfile = cert_dir / "tls.crt"
        self.keyfile = cert_dir / "tls.key"
        self.reload_interval = reload_interval
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._stamp = self._load()

    async def follow(self) -> None:
        """Reload whenever the files change, until cancelled."""
        while True:
            await asyncio.sleep(self.reload_interval)
            if self._stamp_now() != self._stamp:
                self._stamp = self._load()
                log.info("reloaded the certificate from %s", self.certfile)

    def _stamp_now(self) -> tuple[float, float]:
        return (self.certfile.stat().st_mtime, self.keyfile.stat().st_mtime)

    def _load(self) -> tuple[float, float]:
        stamp = self._stamp_now()
        self.context.load_cert_chain(str(self.certfile), str(self.keyfile))
        return stamp
