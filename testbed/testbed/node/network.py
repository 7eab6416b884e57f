"""The node's addresses, and the host changes that give them a home on this machine only.

Every range is one no network routes: documentation (RFC 5737) and benchmarking (RFC 2544)
ranges that are not this machine's own. The node address sits on a dummy interface, the pods
on the node's own bridge, and the service range is routed into the dummy, where a packet that
no kube-proxy rule rewrote ends. Traffic from a pod to anything but the pod range, the node
and the services is dropped in FORWARD: nothing from the node leaves the host.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass

from testbed.errors import ControlPlaneError

EGRESS_CHAIN = "RJNODE-EGRESS"


@dataclass(frozen=True)
class NodeNetwork:
    node_ip: str = "203.0.113.2"  # TEST-NET-3, on the dummy interface
    service_cidr: str = "198.51.100.0/24"  # TEST-NET-2, routed into the dummy
    pod_cidr: str = "198.18.0.0/24"  # benchmarking range, on the bridge
    dummy: str = "rjnode0"
    bridge: str = "rjbr0"

    @property
    def service_ip(self) -> str:
        """The ``kubernetes`` Service's address: the first of the service range."""
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    def up(self) -> None:
        """The dummy interface with the node address and the service route; the egress fence."""
        if _link_exists(self.dummy):
            raise ControlPlaneError(
                f"the interface {self.dummy} exists already: another node runs on this machine, "
                "or a killed one left it",
                fix="run `reactivejob-controlplane down` (one node per machine at a time)",
            )
        # A bridge with no ports is a dummy interface on kernels without the dummy driver
        # (these machines' have none): local addresses and routes, no wire behind them.
        run("ip", "link", "add", self.dummy, "type", "bridge")
        run("ip", "addr", "add", f"{self.node_ip}/32", "dev", self.dummy)
        run("ip", "link", "set", self.dummy, "up")
        run("ip", "route", "add", self.service_cidr, "dev", self.dummy)
        local = [self.pod_cidr, f"{self.node_ip}/32", self.service_cidr]
        run("iptables", "-w", "-N", EGRESS_CHAIN)
        for destination in local:
            run("iptables", "-w", "-A", EGRESS_CHAIN, "-d", destination, "-j", "RETURN")
        run("iptables", "-w", "-A", EGRESS_CHAIN, "-j", "DROP")
        run("iptables", "-w", "-I", "FORWARD", "-s", self.pod_cidr, "-j", EGRESS_CHAIN)

    def down(self) -> None:
        """Undo ``up()`` and the bridge the CNI plugin made; what is gone already is fine."""
        quiet("iptables", "-w", "-D", "FORWARD", "-s", self.pod_cidr, "-j", EGRESS_CHAIN)
        quiet("iptables", "-w", "-F", EGRESS_CHAIN)
        quiet("iptables", "-w", "-X", EGRESS_CHAIN)
        for link in (self.bridge, self.dummy):  # the service route goes with the dummy
            if _link_exists(link):
                run("ip", "link", "del", link)

    def leftovers(self) -> list[str]:
        """What of this network is still on the host (for the tear-down test)."""
        found = [link for link in (self.bridge, self.dummy) if _link_exists(link)]
        routes = subprocess.run(
            ["ip", "route", "show", self.service_cidr], capture_output=True, text=True, check=False
        ).stdout.strip()
        if routes:
            found.append(f"route {routes}")
        return found


def _link_exists(name: str) -> bool:
    return (
        subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode
        == 0
    )


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(
            f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}",
            fix="the node needs root on a Linux host with iproute2 and iptables",
        )
    return done.stdout


def quiet(*argv: str) -> None:
    """For tear-down: a step whose object is already gone is not an error."""
    subprocess.run(argv, capture_output=True, check=False)
