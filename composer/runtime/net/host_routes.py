"""What the host already routes, read live from netlink: the input IPAM needs to avoid collisions."""

from __future__ import annotations

from ipaddress import IPv4Network

from pyroute2 import IPRoute

RT_TABLE_LOCAL = 255


def host_networks() -> list[IPv4Network]:
    """Every IPv4 route (all tables but `local`, default routes left out) and every address's network."""
    found: set[IPv4Network] = set()
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=2, table=0):  # table 0 = all tables
            table = route.get_attr("RTA_TABLE") or route["table"]
            dst = route.get_attr("RTA_DST")
            if table == RT_TABLE_LOCAL or dst is None or route["dst_len"] == 0:
                continue
            found.add(IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
        for addr in ipr.get_addr(family=2):
            found.add(IPv4Network(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}", strict=False))
    return sorted(found)
