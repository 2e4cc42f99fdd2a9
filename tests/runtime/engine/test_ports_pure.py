"""Published-port flags and views without running anything: `-p`/`-P`/`--expose` to Compose's long syntax, `port`."""

from __future__ import annotations

from typing import Any

import pytest

from composer.cli.run_options import RunFlags, service_from_flags
from composer.errors import ComposerError
from composer.runtime.engine.views import port_lines


def _service(**kwargs: Any) -> dict[str, Any]:
    return service_from_flags(RunFlags(network="n", **kwargs), environ={}, cwd="/")


def test_publish_flags_become_long_syntax() -> None:
    service = _service(publish=["127.0.0.1:8080:80", "53/udp"], publish_all=True, expose=["90-91"],
                       image_exposed=["80/tcp", "443/tcp"])
    assert service["ports"] == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8080", "protocol": "tcp"},
        {"mode": "ingress", "target": 53, "protocol": "udp"},
        {"mode": "ingress", "target": 443, "protocol": "tcp"},
        {"mode": "ingress", "target": 90, "protocol": "tcp"},
        {"mode": "ingress", "target": 91, "protocol": "tcp"},
    ]
    assert service["expose"] == ["90-91"]


def test_publish_errors() -> None:
    with pytest.raises(ComposerError, match="needs a bridge network"):
        service_from_flags(RunFlags(publish=["80"]), environ={}, cwd="/")
    with pytest.raises(ComposerError, match="invalid port"):
        _service(publish=["99999"])
    with pytest.raises(ComposerError, match="to expose"):
        _service(expose=["http"])
    assert "ports" not in service_from_flags(RunFlags(publish=["80"], network="host"), environ={}, cwd="/")


def test_port_lines() -> None:
    ports = [{"HostIp": "0.0.0.0", "HostPort": "8080", "Protocol": "tcp", "ContainerPort": "80"},
             {"HostIp": "127.0.0.1", "HostPort": "5353", "Protocol": "udp", "ContainerPort": "53"}]
    assert port_lines(ports) == ["53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:8080"]
    assert port_lines(ports, "80") == ["0.0.0.0:8080"]
    assert port_lines(ports, "53/tcp") == []
