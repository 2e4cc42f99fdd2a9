"""Session-wide checks: after the whole run, nothing a test made may remain on the host."""

from __future__ import annotations

import os

import pytest

from tests.leaks import leaks


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput") or os.geteuid() != 0:
        return  # xdist workers: the controller checks once every worker is done
    found = leaks()
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["leak check: the test run left these behind:", *(f"  {f}" for f in found)]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
