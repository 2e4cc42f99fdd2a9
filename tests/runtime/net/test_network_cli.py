"""`composer network create|ls|inspect|rm|prune` from the CLI: records, bridges and nftables elements."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.harness import Result, run_cli

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


class Net:
    def __init__(self, tmp: Path) -> None:
        self.tag = f"cmpt{secrets.token_hex(3)}"
        self.tmp = tmp
        self.env = {"COMPOSER_ROOT": str(tmp / "state"), "COMPOSER_NFT_TABLE": self.tag}

    def cli(self, *args: str) -> Result:
        return run_cli(self.tmp, ["network", *args], env=self.env)


def _links() -> str:
    return subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout


def _free_test_subnet() -> str:
    from composer.runtime.net.host_routes import host_networks

    taken = host_networks()
    for _ in range(50):
        candidate = ipaddress.IPv4Network(f"10.213.{secrets.randbelow(256)}.0/24")
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    pytest.skip("no free test subnet in 10.213.0.0/16")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    if subprocess.run(["which", "nft"], capture_output=True).returncode != 0:
        pytest.skip("nft is not installed (apt-get install -y nftables)")
    n = Net(tmp_path)
    try:
        yield n
    finally:
        for record in (tmp_path / "state" / "networks").glob("*.json"):
            n.cli("rm", json.loads(record.read_text())["name"])
        subprocess.run(["nft", "delete", "table", "inet", n.tag], capture_output=True)


def test_create_inspect_and_remove(net: Net) -> None:
    subnet = _free_test_subnet()
    r = net.cli("create", "--subnet", subnet, "--internal", "-l", "team=core", f"{net.tag}-a")
    assert r.code == 0, r.stderr
    doc = json.loads(net.cli("inspect", f"{net.tag}-a").stdout)[0]
    assert doc["IPAM"]["Config"] == [{"Subnet": subnet, "Gateway": str(next(ipaddress.IPv4Network(subnet).hosts()))}]
    assert doc["Internal"] is True
    assert doc["Labels"] == {"team": "core"}
    bridge = doc["Options"]["com.docker.network.bridge.name"]
    assert len(bridge) <= 15
    assert bridge in _links()
    assert f"{net.tag}-a" in net.cli("ls").stdout
    again = net.cli("create", f"{net.tag}-a")
    assert again.code == 1
    assert "already exists" in again.stderr
    clash = net.cli("create", "--subnet", subnet, f"{net.tag}-b")
    assert clash.code == 1
    assert "overlaps" in clash.stderr
    assert net.cli("rm", f"{net.tag}-a").stdout == f"{net.tag}-a\n"
    assert bridge not in _links()
    assert net.cli("ls", "-q").stdout == ""


def test_automatic_subnets_avoid_the_host_and_each_other(net: Net) -> None:
    from composer.runtime.net.host_routes import host_networks

    ids = [net.cli("create", f"{net.tag}-{i}").stdout.strip() for i in range(2)]
    subnets = [ipaddress.IPv4Network(json.loads(net.cli("inspect", i).stdout)[0]["IPAM"]["Config"][0]["Subnet"])
               for i in ids]
    assert not subnets[0].overlaps(subnets[1])
    mine = {str(s.network_address) for s in subnets}
    for route in host_networks():
        if str(route.network_address) not in mine:
            assert not any(route.overlaps(s) for s in subnets), route
    r = run_cli(net.tmp, ["network", "prune", "-f"], env=net.env)
    assert r.stdout.splitlines()[0] == "Deleted Networks:"
    assert net.cli("ls", "-q").stdout == ""


def test_bad_names_and_drivers_are_one_line(net: Net) -> None:
    for args in (["create", "host"], ["create", "bad name"], ["create", "-d", "overlay", "x"], ["rm", "nope"],
                 ["create", "--ipv6", "x"]):
        r = net.cli(*args)
        assert r.code == 1, args
        assert r.stderr.startswith("composer: error: "), args
