"""macvlan and ipvlan networks: sub-interfaces of a parent link the test makes (a dummy, or a veth pair where the
kernel has no dummy driver), no bridge, no NAT, and the parent left alone by `network rm`."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from composer.errors import ComposerError
from composer.runtime.net import sublink
from tests.cli.harness import Result, run_cli
from tests.runtime.engine import enginefix
from tests.runtime.engine.enginefix import BASE, EngineEnv

eng, image_archive = enginefix.eng, enginefix.image_archive  # the engine fixtures (their conftest is not ours)

MACVLAN_NET = "10.213.203.0/24"
IPVLAN_NET = "10.213.204.0/24"
SECOND_NET = "10.213.205.0/24"


def test_driver_options_are_checked() -> None:
    with pytest.raises(ComposerError, match="needs its parent link"):
        sublink.check_options("macvlan", {})
    with pytest.raises(ComposerError, match="ipvlan_mode 'l9'"):
        sublink.check_options("ipvlan", {"parent": "x", "ipvlan_mode": "l9"})
    with pytest.raises(ComposerError, match="macvlan_mode 'odd'"):
        sublink.check_options("macvlan", {"parent": "x", "macvlan_mode": "odd"})
    sublink.check_options("ipvlan", {"parent": "x", "ipvlan_mode": "l3"})


def _links() -> list[str]:
    with IPRoute() as ipr:
        return [str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()]


@pytest.fixture
def parent() -> Iterator[str]:
    """A parent link of the test's own, up: a dummy, or a veth pair (both ends up) when there is no dummy driver."""
    name = "cmpdmy" + secrets.token_hex(4)
    peer = "cmpdmp" + name[6:]
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="dummy")
        except NetlinkError:
            ipr.link("add", ifname=name, kind="veth", peer=peer)
        for link in (name, peer):
            for index in ipr.link_lookup(ifname=link):
                ipr.link("set", index=index, state="up")
    try:
        yield name
    finally:
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=name):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=index)
        assert name not in _links()
        assert peer not in _links()


def _network(eng: EngineEnv, *args: str) -> Result:
    return run_cli(eng.tmp, ["network", *args], env=eng.env)


def _inside(eng: EngineEnv, ref: str, command: str) -> str:
    """iproute2's view from the container's namespace (busybox's `ip` has no `-d`)."""
    path = eng.engine.roots.run_root / "netns" / eng.engine.get(ref).id
    return subprocess.run(["nsenter", f"--net={path}", "sh", "-c", command], capture_output=True, text=True,
                          check=True).stdout


def _ping(eng: EngineEnv, ref: str, address: str) -> subprocess.CompletedProcess[str]:
    return eng.cli_process("exec", ref, "sh", "-c", f"ping -c1 -W2 {address}")


@pytest.mark.root
@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables")
def test_macvlan_containers_reach_each_other(eng: EngineEnv, parent: str) -> None:
    net = f"{eng.tag}-mv"
    gateway = MACVLAN_NET.replace(".0/24", ".1")
    r = _network(eng, "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", MACVLAN_NET,
                 "--gateway", gateway, net)
    assert r.code == 0, r.stderr
    doc = json.loads(_network(eng, "inspect", net).stdout)[0]
    assert (doc["Driver"], doc["Options"]) == ("macvlan", {"parent": parent})
    assert "macvlan" in _network(eng, "ls").stdout
    for name in ("one", "two"):
        r = eng.cli("run", "-d", "--name", name, "--network", net, BASE, "sleep", "100")
        assert r.code == 0, r.stderr
    # no bridge, no veth: the sub-interfaces live in the containers' namespaces (other tests' links come and
    # go meanwhile, so only the names this network and these containers would have are looked for)
    from composer.planner import ipam

    network_id = doc["Id"]
    cids = [json.loads(eng.cli("inspect", n).stdout)[0]["Id"] for n in ("one", "two")]
    would_be = {ipam.bridge_name(network_id), *(ipam.veth_host_name(c, network_id) for c in cids)}
    assert would_be & set(_links()) == set()
    ips = {n: json.loads(eng.cli("inspect", n).stdout)[0]["NetworkSettings"]["Networks"][net]["IPAddress"]
           for n in ("one", "two")}
    assert ips == {"one": MACVLAN_NET.replace(".0/24", ".2"), "two": MACVLAN_NET.replace(".0/24", ".3")}
    ping = _ping(eng, "one", ips["two"])
    assert ping.returncode == 0, ping.stdout + ping.stderr
    ping = _ping(eng, "two", "one")  # names resolve as on a bridge network
    assert ping.returncode == 0, ping.stdout + ping.stderr
    details = _inside(eng, "one", "ip -d link show eth0; ip route")
    assert "macvlan mode bridge" in details
    assert f"default via {gateway} dev eth0" in details
    # connect and disconnect: a second sub-interface comes and goes, found again by its address
    second = f"{eng.tag}-mv2"
    r = _network(eng, "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", SECOND_NET, second)
    assert r.code == 0, r.stderr
    assert _network(eng, "connect", second, "one").code == 0
    assert SECOND_NET.replace(".0/24", ".2/24") in _inside(eng, "one", "ip -br addr show eth1")
    assert _network(eng, "disconnect", second, "one").code == 0
    assert "eth1" not in _inside(eng, "one", "ip -br link")
    assert _network(eng, "rm", second).code == 0
    table = subprocess.run(["nft", "list", "table", "inet", eng.env["COMPOSER_NFT_TABLE"]],
                           capture_output=True, text=True).stdout
    assert MACVLAN_NET not in table  # no NAT for this network
    assert _network(eng, "rm", net).code == 1  # in use
    assert eng.cli("rm", "-f", "one", "two").code == 0
    assert _network(eng, "rm", net).code == 0
    assert parent in _links()  # the parent is not the network's to remove


@pytest.mark.root
def test_macvlan_without_gateway_has_no_default_route(eng: EngineEnv, parent: str) -> None:
    net = f"{eng.tag}-ng"
    r = _network(eng, "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", MACVLAN_NET, net)
    assert r.code == 0, r.stderr
    r = eng.cli("run", "--rm", "--network", net, BASE, "sh", "-c", "ip route")
    assert r.code == 0, r.stderr
    assert "default" not in r.stdout
    assert MACVLAN_NET in r.stdout
    assert _network(eng, "rm", net).code == 0


@pytest.mark.root
def test_missing_parent_is_one_clear_error(eng: EngineEnv, parent: str) -> None:
    missing = "cmpnone" + secrets.token_hex(4)
    r = _network(eng, "create", "-d", "macvlan", "-o", f"parent={missing}", "--subnet", MACVLAN_NET, "x")
    assert r.code == 1
    assert r.stderr.strip().splitlines() == [f"composer: error: macvlan parent link {missing!r} does not exist "
                                             "on this host"]
    r = _network(eng, "create", "-d", "ipvlan", "--subnet", MACVLAN_NET, "x")
    assert r.code == 1
    assert "needs its parent link: -o parent=LINK" in r.stderr
    r = _network(eng, "create", "-d", "overlay", "x")
    assert r.code == 1
    assert "network driver 'overlay' is not supported" in r.stderr
    assert _network(eng, "ls", "-q").stdout == ""
    # the parent goes away after the network was made: creating a container on it names the parent
    net = f"{eng.tag}-gone"
    assert _network(eng, "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", MACVLAN_NET, net).code == 0
    with IPRoute() as ipr:
        ipr.link("del", index=ipr.link_lookup(ifname=parent)[0])
    r = eng.cli("run", "--rm", "--network", net, BASE, "true")
    assert r.code == 1
    assert f"macvlan parent link {parent!r} does not exist" in r.stderr
    assert eng.cli("ls", "-aq").stdout == ""
    assert _network(eng, "rm", net).code == 0


def _has_ipvlan(parent: str) -> bool:
    name = "cmpipv" + secrets.token_hex(4)
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="ipvlan", link=ipr.link_lookup(ifname=parent)[0], ipvlan_mode=0)
        except NetlinkError:
            return False
        ipr.link("del", index=ipr.link_lookup(ifname=name)[0])
    return True


@pytest.mark.root
@pytest.mark.parametrize("mode", ["l2", "l3"])
def test_ipvlan(eng: EngineEnv, parent: str, mode: str) -> None:
    net = f"{eng.tag}-iv"
    r = _network(eng, "create", "-d", "ipvlan", "-o", f"parent={parent}", "-o", f"ipvlan_mode={mode}",
                 "--subnet", IPVLAN_NET, "--gateway", IPVLAN_NET.replace(".0/24", ".1"), net)
    assert r.code == 0, r.stderr
    if not _has_ipvlan(parent):
        r = eng.cli("run", "--rm", "--network", net, BASE, "true")
        assert r.code == 1
        assert r.stderr.strip().splitlines() == ["composer: error: this kernel has no ipvlan support "
                                                 "(load the ipvlan module)"]
        assert _network(eng, "rm", net).code == 0
        pytest.skip("this kernel has no ipvlan driver (the clear error was checked)")
    for name in ("one", "two"):
        assert eng.cli("run", "-d", "--name", name, "--network", net, BASE, "sleep", "100").code == 0
    details = _inside(eng, "one", "ip -d link show eth0; ip route")
    assert f"ipvlan  mode {mode}" in details or f"ipvlan mode {mode}" in details
    assert "default" in details
    ping = _ping(eng, "one", "two")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert eng.cli("rm", "-f", "one", "two").code == 0
    assert _network(eng, "rm", net).code == 0
    assert parent in _links()
