"""Root tier: bridges, veth pairs, network namespaces and nftables rules on the real kernel.

Every name a test makes starts with its own tag `cmpt<6 hex>` (see `tests/leaks.py`), its nftables table is named
by the tag too, and its namespaces live in the test's temp dir, so parallel runs never collide.
Addresses: container subnets are /24s from the test-only pool 10.213.0.0/16; the stand-in for "the outside world"
is a namespace behind its own veth with a /30 from 198.51.100.0/24 (TEST-NET-2, documentation only). Both are
picked at random among the candidates that overlap no host route, so no packet goes to a real outside address.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from composer.planner import ipam
from tests.leaks import NET_MARK, leaks

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

TEST_POOL = IPv4Network("10.213.0.0/16")
OUTSIDE_POOL = IPv4Network("198.51.100.0/24")
BUSYBOX = "/bin/busybox"


def _require_tools() -> None:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (apt-get install -y nftables)")
    if not Path(BUSYBOX).is_file():
        pytest.skip("busybox-static is not installed (apt-get install -y busybox-static)")


def _random_free(pool: IPv4Network, prefix: int, taken: list[IPv4Network]) -> IPv4Network:
    """A random free subnet of `pool`: random so that parallel test runs rarely pick the same one."""
    from composer.runtime.net.host_routes import host_networks

    candidates = [(s, prefix) for s in pool.subnets(new_prefix=prefix)]
    random.shuffle(candidates)
    return ipam.choose_subnet([*host_networks(), *taken], candidates)


@dataclass
class NetEnv:
    """One test's names and what it made, so the cleanup can remove all of it."""

    tag: str
    netns_dir: Path
    bridges: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    subnets: list[IPv4Network] = field(default_factory=list)

    @property
    def table(self) -> str:
        return self.tag

    def subnet(self) -> IPv4Network:
        net = _random_free(TEST_POOL, 24, self.subnets)
        self.subnets.append(net)
        return net

    def network(self, suffix: str, internal: bool = False) -> tuple[str, ipam.Addressing]:
        """A bridge `<tag><suffix>` on a fresh test subnet, with its nftables rules."""
        from composer.runtime.net import bridge, nat

        addressing = ipam.plan_addressing(ipam.IpamConfig(self.subnet()), [], [])
        name = self.tag + suffix
        self.bridges.append(name)
        bridge.create(name, addressing.bridge_address)
        nat.add_network(nat.NatNetwork(name, addressing.subnet, internal), self.table, bridge_prefix=self.tag)
        return name, addressing

    def container(self, suffix: str, bridge_name: str, addressing: ipam.Addressing, address: IPv4Address,
                  default_route: bool = True) -> Path:
        """A namespace `<tag><suffix>` standing in for a container, attached to the bridge as eth0."""
        from composer.runtime.net import netns, veth

        name = self.tag + suffix
        self.namespaces.append(name)
        path = netns.create(self.netns_dir, name)
        self.links.append(self.tag + "v" + suffix)
        veth.attach(
            path,
            host_name=self.tag + "v" + suffix,
            peer_temp_name=self.tag + "p" + suffix,
            ifname="eth0",
            bridge=bridge_name,
            address=ipam.interface_address(addressing, address),
            mac=ipam.mac_address(address),
            gateway=addressing.gateway if default_route else None,
        )
        return path


def ping(path: Path, address: IPv4Address) -> bool:
    result = subprocess.run(
        ["nsenter", f"--net={path}", BUSYBOX, "ping", "-c1", "-W1", str(address)],
        capture_output=True, text=True, timeout=10, check=False,
    )
    return result.returncode == 0


def in_ns(path: Path, *argv: str) -> str:
    return subprocess.run(["nsenter", f"--net={path}", *argv], capture_output=True, text=True, check=True).stdout


def remains(env: NetEnv) -> list[str]:
    """Everything of this test still on the host: links, addresses, routes, namespaces, nft table."""
    found = [f"link {n}" for n in os.listdir("/sys/class/net") if n.startswith(env.tag)]
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                            check=True).stdout
    for line in addrs.splitlines():
        address = IPv4Interface(line.split(" inet ")[1].split()[0])
        found += [f"address {line}" for net in env.subnets if address.ip in net]
    for line in routes.splitlines():
        words = line.split()
        dst = words[1] if words[0] in ("local", "broadcast", "unicast", "multicast") else words[0]
        if dst != "default":
            found += [f"route {line}" for net in env.subnets if IPv4Network(dst, strict=False).overlaps(net)]
    if env.netns_dir.exists():
        found += [f"netns file {p}" for p in env.netns_dir.iterdir()]
    found += [f for f in leaks() if env.tag in f]
    return sorted(set(found))


def cleanup(env: NetEnv) -> None:
    from composer.runtime.net import bridge, nat, netns, veth

    for link in env.links:
        veth.detach(link)
    for name in env.namespaces:
        netns.delete(env.netns_dir, name)
    for name in env.bridges:
        bridge.delete(name)
    nat.delete_table(env.table)
    nat.remove_iptables_accept(env.tag)
    netns.release_dir(env.netns_dir)
    if env.netns_dir.exists():
        env.netns_dir.rmdir()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[NetEnv]:
    _require_tools()
    env = NetEnv(tag=f"{NET_MARK}{secrets.token_hex(3)}", netns_dir=tmp_path / "netns")
    try:
        yield env
    finally:
        cleanup(env)
    assert remains(env) == []


def test_names_used_here_fit_ifnamsiz() -> None:
    tag = f"{NET_MARK}{secrets.token_hex(3)}"
    assert len(tag + "v" + "c9") <= 15
    assert len(tag + "b9") <= 15


def test_netns_bridge_and_veth_are_idempotent(net: NetEnv) -> None:
    from composer.runtime.net import bridge, nat, netns

    name, addressing = net.network("b0")
    # a second create of everything changes nothing
    bridge.create(name, addressing.bridge_address)
    nat.add_network(nat.NatNetwork(name, addressing.subnet), net.table, bridge_prefix=net.tag)
    path = net.container("c0", name, addressing, ipam.allocate_address(addressing, []))
    net.container("c0", name, addressing, ipam.allocate_address(addressing, []))
    assert netns.list_names(net.netns_dir) == [net.tag + "c0"]
    assert bridge.list_bridges(net.tag) == [name]
    addresses = in_ns(path, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
    assert addresses.count(" inet ") == 1
    assert in_ns(path, "ip", "-4", "route").count("default") == 1
    link = in_ns(path, "ip", "-o", "link", "show", "dev", "eth0")
    assert ipam.mac_address(ipam.allocate_address(addressing, [])) in link
    assert "state UP" in link
    # deletes tolerate what is gone
    bridge.delete(name + "x")
    netns.delete(net.netns_dir, net.tag + "zz")
    nat.remove_network(nat.NatNetwork(name + "x", addressing.subnet), net.table)


def test_two_namespaces_on_one_bridge_reach_each_other(net: NetEnv) -> None:
    name, addressing = net.network("b0")
    a = ipam.allocate_address(addressing, [])
    b = ipam.allocate_address(addressing, [a])
    ns_a = net.container("c0", name, addressing, a)
    ns_b = net.container("c1", name, addressing, b)
    assert ping(ns_a, b)
    assert ping(ns_b, a)
    assert ping(ns_a, addressing.gateway)


def test_two_bridges_are_isolated(net: NetEnv) -> None:
    name0, plan0 = net.network("b0")
    name1, plan1 = net.network("b1")
    a = ipam.allocate_address(plan0, [])
    b = ipam.allocate_address(plan1, [])
    ns_a = net.container("c0", name0, plan0, a)
    ns_b = net.container("c1", name1, plan1, b)
    assert ping(ns_a, plan0.gateway)  # each link works ...
    assert ping(ns_b, plan1.gateway)
    assert not ping(ns_a, b)  # ... but nothing crosses from one network to the other
    assert not ping(ns_b, a)


def _outside_world(net: NetEnv) -> tuple[Path, IPv4Address]:
    """A namespace behind a host veth on a documentation /30; it has no route to any container subnet."""
    from pyroute2 import IPRoute

    from composer.runtime.net import netns

    subnet = _random_free(OUTSIDE_POOL, 30, [])
    net.subnets.append(subnet)
    host_addr, far_addr = list(subnet.hosts())
    name = net.tag + "o"
    net.namespaces.append(name)
    path = netns.create(net.netns_dir, name)
    host_end, peer = net.tag + "x", net.tag + "y"
    net.links.append(host_end)
    with IPRoute() as ipr:
        ipr.link("add", ifname=host_end, kind="veth", peer=peer)
        fd = os.open(path, os.O_RDONLY)
        try:
            ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], net_ns_fd=fd)
        finally:
            os.close(fd)
        index = ipr.link_lookup(ifname=host_end)[0]
        ipr.addr("add", index=index, address=str(host_addr), prefixlen=30)
        ipr.link("set", index=index, state="up")
    with IPRoute(netns=str(path), flags=0) as inside:
        index = inside.link_lookup(ifname=peer)[0]
        inside.addr("add", index=index, address=str(far_addr), prefixlen=30)
        inside.link("set", index=index, state="up")
    assert "default" not in in_ns(path, "ip", "-4", "route")
    return path, far_addr


def test_nat_egress_for_a_normal_network_and_none_for_an_internal_one(net: NetEnv) -> None:
    from composer.runtime.net import nat

    _outside, far = _outside_world(net)
    normal, plan0 = net.network("b0")
    internal, plan1 = net.network("b1", internal=True)
    a = ipam.allocate_address(plan0, [])
    b = ipam.allocate_address(plan1, [])
    ns_a = net.container("c0", normal, plan0, a)
    ns_b = net.container("c1", internal, plan1, b, default_route=False)

    assert ping(ns_a, far)  # masqueraded: the outside answers the host's address
    assert "default" not in in_ns(ns_b, "ip", "-4", "route")
    assert not ping(ns_b, far)  # no route out
    # even with a route out, the firewall keeps an internal network in
    in_ns(ns_b, "ip", "route", "add", "default", "via", str(plan1.gateway))
    assert not ping(ns_b, far)
    assert ping(ns_b, plan1.gateway)
    # without its rules the normal network's packets still leave, unNATed, and the outside cannot answer:
    # so the masquerade is what made the first ping work
    nat.remove_network(nat.NatNetwork(normal, plan0.subnet), net.table)
    assert not ping(ns_a, far)
    nat.add_network(nat.NatNetwork(normal, plan0.subnet), net.table, bridge_prefix=net.tag)
    assert ping(ns_a, far)


def test_leak_check_sees_a_tagged_link_and_table(net: NetEnv) -> None:
    name, _ = net.network("b0")
    found = leaks()
    assert f"link {name}" in found
    assert f"nft table inet {net.table}" in found


def dockerd_like_host_scenario(tag: str, netns_dir: str) -> None:
    """Run inside a fresh "host" namespace whose iptables FORWARD policy is DROP, as dockerd leaves it."""
    from composer.runtime.net import nat

    env = NetEnv(tag=tag, netns_dir=Path(netns_dir))
    try:
        subprocess.run(["iptables", "-w", "-P", "FORWARD", "DROP"], check=True)
        _outside, far = _outside_world(env)
        normal, plan = env.network("b0")  # add_network sees the DROP policy and inserts the accepts
        ns_a = env.container("c0", normal, plan, ipam.allocate_address(plan, []))
        assert nat.iptables_accept_chain() == "FORWARD"
        assert ping(ns_a, far)
        nat.remove_iptables_accept(tag)
        assert not ping(ns_a, far)  # the DROP policy wins over composer's own nft accepts
        assert nat.ensure_iptables_accept(tag) == "FORWARD"
        assert nat.ensure_iptables_accept(tag) == "FORWARD"  # idempotent: no duplicate rules
        rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout
        assert rules.count(f"{tag}+") == 2
        assert ping(ns_a, far)
    finally:
        cleanup(env)


@pytest.mark.skipif(shutil.which("iptables") is None, reason="iptables is not installed")
def test_forwarding_works_when_iptables_forward_policy_is_drop(net: NetEnv) -> None:
    """dockerd's DROP policy, in a throw-away namespace standing in for the host so the real host is untouched."""
    from composer.runtime.net import netns

    net.namespaces.append(net.tag + "h")
    host = netns.create(net.netns_dir, net.tag + "h")
    inner = str(net.netns_dir / "in")
    probe = f"from tests.runtime.net.test_net import *; dockerd_like_host_scenario({net.tag!r}, {inner!r})"
    result = subprocess.run(
        ["nsenter", f"--net={host}", sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_parallel_releases_of_one_directory_do_not_fail(net: NetEnv) -> None:
    """A parallel `down` releases the namespace directory from many threads at once: one unmounts, the
    others find it done (this was an EINVAL that failed `down` of 50 services now and then)."""
    import threading

    from composer.runtime.net import netns

    for round_ in range(5):
        name = f"{net.tag}r{round_}"
        netns.create(net.netns_dir, name)
        netns.delete(net.netns_dir, name)
        errors: list[BaseException] = []

        def release(errors: list[BaseException] = errors) -> None:
            try:
                netns.release_dir(net.netns_dir)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=release) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert str(net.netns_dir) not in netns._mount_points()
