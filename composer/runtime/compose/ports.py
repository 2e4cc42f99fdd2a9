"""Published ports checked before `up` creates anything: a taken host port names the service, the port and
who holds it (another container, or a host process), instead of failing half-way through the plan."""

from __future__ import annotations

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.planner.plan import Plan
from composer.runtime.engine.engine import Engine


def check_plan_ports(engine: Engine, want: d.DesiredState, plan: Plan) -> None:
    from composer.runtime.net import hostports

    replaced = {a.replaces for a in plan.actions if a.replaces}
    replaced |= {a.id.removeprefix("remove:") for a in plan.actions if a.id.startswith("remove:")}
    claims = [{**p, "Container": c.name} for c in engine.list(all=True) if c.id not in replaced
              for p in c.record.ports]
    for action in plan.actions:
        if action.kind not in ("create", "recreate") or action.service is None:
            continue
        for entry in hostports.long_entries(want.services[action.service].spec.get("ports") or ()):
            published = str(entry.get("published") or "")
            if not published.isdigit():
                continue
            host_ip = str(entry.get("host_ip") or "")
            protocol = str(entry.get("protocol") or "tcp")
            holder = hostports._claimer(claims, host_ip, int(published), protocol)
            where = hostports.label(host_ip, published, protocol)
            if holder is not None:
                raise ComposerError(f'service "{action.service}": port {where} is already in use '
                                    f"(by container {holder['Container']})")
            if action.kind == "create":
                try:
                    hostports.check_free([entry])
                except ComposerError as exc:
                    raise ComposerError(f'service "{action.service}": {exc}') from None
            claims.append({"HostIp": host_ip, "HostPort": published, "Protocol": protocol,
                           "Container": action.target})
