"""Separate "hosts" on one machine: a network namespace each, joined to this one by a veth pair.

A process started in a host (`NetworkHost.command`) has its own network stack (its own loopback,
one address 10.231.N.2) and its own host name (a UTS namespace); it reaches this namespace only
over the veth, at 10.231.N.1. Needs root and iproute2 (`ip netns`); `available()` says whether this
machine gives both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["NetworkHost", "available", "network_host"]


def available() -> bool:
    """Root, `ip` and `unshare`, and a namespace can really be made (a container may forbid it)."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("ip") and shutil.which("unshare")):
        return False
    name = f"rg-probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made


@dataclass(frozen=True)
class NetworkHost:
    name: str  # also its host name
    namespace: str
    address: str  # its own address, inside its namespace
    gateway: str  # this namespace's end of the veth: how the host reaches services here

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the host: its network namespace, its host name."""
        return [
            "ip", "netns", "exec", self.namespace,
            "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.name, *argv,
        ]  # fmt: skip


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip", *args]
    subprocess.run(command, check=True, capture_output=True)


@contextmanager
def network_host(name: str, number: int) -> Iterator[NetworkHost]:
    """Host `name` on subnet 10.231.`number`.0/30, removed (namespace and veth) afterwards."""
    tag = uuid.uuid4().hex[:6]
    namespace, outside, inside = f"rg-{name}-{tag}", f"rg{tag}{number}o", f"rg{tag}{number}i"
    gateway, address = f"10.231.{number}.1", f"10.231.{number}.2"
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("addr", "add", f"{gateway}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("addr", "add", f"{address}/30", "dev", inside, namespace=namespace)
        _ip("link", "set", inside, "up", namespace=namespace)
        _ip("link", "set", "lo", "up", namespace=namespace)
        yield NetworkHost(name=f"rg-host-{name}", namespace=namespace, address=address, gateway=gateway)
    finally:
        # Deleting the namespace deletes the veth's inside end, and with it the pair.
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
