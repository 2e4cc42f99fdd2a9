"""IPAM and interface names: pure decisions, checked without a kernel."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from composer.errors import ComposerError
from composer.planner.ipam import (
    DEFAULT_POOLS,
    IpamConfig,
    allocate_address,
    bridge_name,
    candidate_subnets,
    choose_subnet,
    container_ifname,
    interface_address,
    mac_address,
    parse_ipam_config,
    plan_addressing,
    veth_host_name,
    veth_peer_temp_name,
)

N = IPv4Network
A = IPv4Address


def test_pool_order_is_docker_candidates_with_docker0_default_last() -> None:
    subnets = list(candidate_subnets(DEFAULT_POOLS))
    assert subnets[0] == N("172.18.0.0/16")
    assert subnets[13] == N("172.31.0.0/16")
    assert subnets[14] == N("192.168.0.0/20")
    assert subnets[29] == N("192.168.240.0/20")
    assert subnets[-1] == N("172.17.0.0/16")
    assert len(subnets) == len(set(subnets)) == 31


def test_choose_skips_host_routes_and_used_subnets() -> None:
    assert choose_subnet([]) == N("172.18.0.0/16")
    # a host route inside 172.18/16 and a composer network on 172.19/16
    assert choose_subnet([N("172.18.5.0/24"), N("172.19.0.0/16")]) == N("172.20.0.0/16")
    # a wide route covering all of 172.16/12 pushes into 192.168
    assert choose_subnet([N("172.16.0.0/12"), N("192.168.0.0/24")]) == N("192.168.16.0/20")


def test_default_route_is_not_a_claim() -> None:
    assert choose_subnet([N("0.0.0.0/0")]) == N("172.18.0.0/16")


def test_pool_exhausted_is_a_clear_error() -> None:
    with pytest.raises(ComposerError, match="no free subnet"):
        choose_subnet([N("172.16.0.0/12"), N("192.168.0.0/16")])


def test_custom_pool() -> None:
    pools = [(N("10.213.0.0/16"), 24)]
    assert choose_subnet([N("10.213.0.0/23")], pools) == N("10.213.2.0/24")


def test_default_addressing() -> None:
    plan = plan_addressing(IpamConfig(), [N("192.0.2.0/24")], [])
    assert plan.subnet == N("172.18.0.0/16")
    assert plan.gateway == A("172.18.0.1")
    assert plan.bridge_address == IPv4Interface("172.18.0.1/16")
    assert allocate_address(plan, []) == A("172.18.0.2")
    assert allocate_address(plan, [A("172.18.0.2")]) == A("172.18.0.3")


def test_configured_subnet_range_gateway_aux() -> None:
    config = parse_ipam_config([{
        "subnet": "10.5.0.0/24", "ip_range": "10.5.0.0/30", "gateway": "10.5.0.2",
        "aux_addresses": {"router": "10.5.0.1"},
    }])
    plan = plan_addressing(config, [], [])
    assert plan.gateway == A("10.5.0.2")
    # ip_range 10.5.0.0/30 = .0 (network) .1 (aux) .2 (gateway) .3 -> only .3 is left
    assert allocate_address(plan, []) == A("10.5.0.3")
    with pytest.raises(ComposerError, match="no free address"):
        allocate_address(plan, [A("10.5.0.3")])
    # a requested address may be anywhere in the subnet, also outside ip_range
    assert allocate_address(plan, [], A("10.5.0.200")) == A("10.5.0.200")
    assert interface_address(plan, A("10.5.0.3")) == IPv4Interface("10.5.0.3/24")


def test_ip_range_edges_are_usable_hosts_of_the_subnet() -> None:
    plan = plan_addressing(IpamConfig(N("10.6.0.0/16"), N("10.6.1.0/24")), [], [])
    assert plan.gateway == A("10.6.0.1")
    assert allocate_address(plan, []) == A("10.6.1.0")


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("10.7.1.5", "not inside"),
        ("10.7.0.0", "reserved"),
        ("10.7.0.255", "reserved"),
        ("10.7.0.1", "reserved"),
        ("10.7.0.9", "reserved"),
        ("10.7.0.2", "already in use"),
    ],
)
def test_requested_address_errors(requested: str, message: str) -> None:
    plan = plan_addressing(IpamConfig(N("10.7.0.0/24"), aux_addresses={"x": A("10.7.0.9")}), [], [])
    with pytest.raises(ComposerError, match=message):
        allocate_address(plan, [A("10.7.0.2")], A(requested))


def test_allocation_never_returns_reserved_addresses() -> None:
    plan = plan_addressing(IpamConfig(N("10.8.0.0/29"), aux_addresses={"a": A("10.8.0.2")}), [], [])
    got: list[IPv4Address] = []
    for _ in range(4):
        got.append(allocate_address(plan, got))
    assert got == [A("10.8.0.3"), A("10.8.0.4"), A("10.8.0.5"), A("10.8.0.6")]
    with pytest.raises(ComposerError):
        allocate_address(plan, got)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"subnet": "10.9.0.0/24", "ip_range": "10.10.0.0/26"}, "not inside subnet"),
        ({"subnet": "10.9.0.0/24", "gateway": "10.9.1.1"}, "not a host address"),
        ({"subnet": "10.9.0.0/24", "gateway": "10.9.0.255"}, "not a host address"),
        ({"subnet": "10.9.0.0/24", "aux_addresses": {"h": "10.9.9.9"}}, "not inside subnet"),
        ({"subnet": "10.9.0.0/31"}, "too small"),
        ({"gateway": "10.9.0.1"}, "need an explicit subnet"),
        ({"subnet": "10.9.0.1/24"}, "not a valid subnet"),
        ({"subnet": "10.9.0.0/24", "gateway": "nope"}, "not a valid IPv4"),
    ],
)
def test_bad_ipam_config(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ComposerError, match=message):
        plan_addressing(parse_ipam_config([entry]), [], [])


def test_configured_subnet_overlapping_another_network() -> None:
    with pytest.raises(ComposerError, match=r"overlaps 10\.11\.0\.0/16"):
        plan_addressing(IpamConfig(N("10.11.3.0/24")), [], [N("10.11.0.0/16")])


def test_configured_subnet_may_overlap_a_host_route() -> None:
    """As Docker: an explicit subnet is the user's decision; only composer's own networks conflict."""
    assert plan_addressing(IpamConfig(N("192.0.2.0/24")), [N("192.0.2.0/24")], []).subnet == N("192.0.2.0/24")


def test_ipv6_entries_are_skipped() -> None:
    config = parse_ipam_config([{"subnet": "fd00:1::/64"}, {"subnet": "10.12.0.0/24"}])
    assert config.subnet == N("10.12.0.0/24")
    assert parse_ipam_config([{"subnet": "fd00:1::/64"}]) == IpamConfig()
    assert parse_ipam_config([]) == IpamConfig()


def test_interface_names_fit_ifnamsiz_and_are_stable() -> None:
    long_id = "x" * 300
    names = [bridge_name(long_id), veth_host_name(long_id, "n"), veth_peer_temp_name(long_id, "n")]
    assert [len(n) for n in names] == [14, 15, 15]
    assert bridge_name("abc") == bridge_name("abc") != bridge_name("abd")
    assert bridge_name("abc").startswith("cmp-")
    assert veth_host_name("c", "n1") != veth_host_name("c", "n2")
    assert veth_host_name("c", "n1") != veth_host_name("c2", "n1")
    # the separator matters: ("ab", "c") and ("a", "bc") are different pairs
    assert veth_host_name("ab", "c") != veth_host_name("a", "bc")
    assert veth_host_name("c", "n")[4:] == veth_peer_temp_name("c", "n")[4:]
    assert all(n.isascii() and "/" not in n and " " not in n for n in names)
    assert bridge_name("../etc/passwd\0").startswith("cmp-")


def test_container_ifname_and_mac() -> None:
    assert [container_ifname(i) for i in range(3)] == ["eth0", "eth1", "eth2"]
    assert mac_address(A("172.18.0.2")) == "02:42:ac:12:00:02"
