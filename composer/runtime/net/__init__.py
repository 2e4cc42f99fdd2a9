"""Effectful networking: network namespaces, bridges, veth pairs, host routes and nftables rules.

Every call here is synchronous (netlink via pyroute2, `nft` via subprocess); async callers wrap them in
`trio.to_thread.run_sync`. Every create is idempotent and every delete tolerates what is already gone, so a
command killed half-way is completed by running it again.
"""
