"""The pure parts: state layout, conmon's command line, the overlay options, mountinfo and k8s-file parsing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.runtime.oci.conmon import ConmonConfig, conmon_argv
from composer.runtime.oci.logs import parse_log, read_log
from composer.runtime.oci.paths import Roots, check_id
from composer.runtime.oci.rootfs import mount_points, overlay_options


def test_layout() -> None:
    roots = Roots(Path("/s"), Path("/r"))
    p = roots.container("web-1")
    assert roots.runc_root == Path("/r/runc")
    assert p.config == Path("/s/containers/web-1/bundle/config.json")
    assert p.rootfs == Path("/s/containers/web-1/bundle/rootfs")
    assert (p.upper, p.work, p.state, p.log) == tuple(
        Path("/s/containers/web-1") / n for n in ("upper", "work", "state.json", "ctr.log")
    )
    assert p.exit_file == Path("/s/containers/web-1/exit/web-1")
    assert p.conmon_pidfile == Path("/s/containers/web-1/conmon.pid")


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "-x", "a b", "x" * 200])
def test_bad_ids(bad: str) -> None:
    with pytest.raises(ComposerError, match="invalid container id"):
        check_id(bad)


def test_conmon_argv() -> None:
    roots = Roots(Path("/s"), Path("/r"))
    cfg = ConmonConfig(runtime="/usr/sbin/runc", runtime_root=roots.runc_root, socket_dir=Path("/r/sock"))
    argv = conmon_argv(cfg, roots.container("c1"))
    assert argv[0] == "conmon"

    def opt(flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert opt("--api-version") == "1"
    assert (opt("-c"), opt("-u"), opt("-r")) == ("c1", "c1", "/usr/sbin/runc")
    assert opt("-b") == "/s/containers/c1/bundle"
    assert opt("-l") == "k8s-file:/s/containers/c1/ctr.log"
    assert opt("--exit-dir") == "/s/containers/c1/exit"
    assert opt("--runtime-arg") == "--root=/r/runc"
    assert "-s" not in argv  # cgroupfs paths, not systemd slices


def test_overlay_options_top_layer_first() -> None:
    opts = overlay_options([Path("/l/base"), Path("/l/top")], Path("/c/upper"), Path("/c/work"))
    assert opts == "lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work,redirect_dir=off,metacopy=off"
    with pytest.raises(ComposerError):
        overlay_options([], Path("/u"), Path("/w"))
    with pytest.raises(ComposerError):
        overlay_options([Path("/l/a:b")], Path("/u"), Path("/w"))


def test_mountinfo_unescapes() -> None:
    text = "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n"
    assert mount_points(text) == ["/mnt/a b"]


LOG = """\
2026-11-28T08:50:00.000000001Z stdout P par
2026-11-28T08:50:00.100000000Z stderr F oops
2026-11-28T08:50:00.200000000Z stdout P ti
2026-11-28T08:50:00.300000000Z stdout F al
garbage line
2026-11-28T08:50:01.000000000+00:00 stdout F
2026-11-28T08:50:02.000000000Z stderr P unfinished
"""


def test_parse_log_joins_partials_and_keeps_streams() -> None:
    got = [(e.stream, e.text, e.timestamp) for e in parse_log(LOG.splitlines())]
    assert got == [
        ("stderr", "oops", "2026-11-28T08:50:00.100000000Z"),
        ("stdout", "partial", "2026-11-28T08:50:00.000000001Z"),
        ("stdout", "", "2026-11-28T08:50:01.000000000+00:00"),
        ("stderr", "unfinished", "2026-11-28T08:50:02.000000000Z"),
    ]


def test_read_log_filters(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_text(LOG)
    assert [e.text for e in read_log(log, tail=2)] == ["", "unfinished"]
    assert read_log(log, tail=0) == []
    assert [e.text for e in read_log(log, streams=("stderr",))] == ["oops", "unfinished"]
    since = datetime.fromisoformat("2026-11-28T08:50:01+00:00")
    assert [e.text for e in read_log(log, since=since)] == ["", "unfinished"]
    assert [e.text for e in read_log(log, until=since)] == ["oops", "partial"]
    assert read_log(tmp_path / "missing.log") == []
