"""The native engine from the CLI, as root, on real runc + conmon + overlayfs: `composer container ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.harness import run_cli
from tests.runtime.engine.enginefix import APP, BASE, EngineEnv, inspect

pytestmark = pytest.mark.root


def test_run_prints_output_and_returns_the_exit_code(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", BASE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert eng.cli("ls", "-aq").stdout == ""


def test_command_not_found_is_127(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", BASE, "no-such-command")
    assert r.code == 127
    assert "no-such-command" in r.stderr
    assert "Traceback" not in r.stderr


def test_image_defaults_user_workdir_env_and_overrides(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", "--entrypoint", "sh", APP, "-c", "id -u; id -g; pwd; echo $PATH")
    assert r.code == 0, r.stderr
    assert r.stdout.split() == ["1000", "1000", "/srv/www", "/usr/local/bin:/usr/bin:/bin"]
    r = eng.cli("run", "--rm", "-u", "0:50", "-w", "/tmp", "-e", "A=1", "-h", "box", "--entrypoint", "sh", APP,
                "-c", "id -u; id -g; pwd; echo $A; hostname; cat /etc/hostname")
    assert r.stdout.split() == ["0", "50", "/tmp", "1", "box", "box"], r.stderr


def test_default_capabilities_are_dockers(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", BASE, "sh", "-c", "grep CapEff /proc/self/status")
    assert r.stdout.split() == ["CapEff:", "00000000a80425fb"], r.stderr
    r = eng.cli("run", "--rm", "--cap-drop", "ALL", BASE, "sh", "-c", "grep CapEff /proc/self/status")
    assert r.stdout.split() == ["CapEff:", "0000000000000000"]


def test_read_only_root_and_bind_mounts(eng: EngineEnv, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("from the host\n")
    r = eng.cli("run", "--rm", "--read-only", "-v", f"{data}:/data", BASE, "sh", "-c",
                "cat /data/in.txt; echo back > /data/out.txt; touch /nope 2>/dev/null || echo read-only")
    assert r.stdout == "from the host\nread-only\n", r.stderr
    assert (data / "out.txt").read_text() == "back\n"
    r = eng.cli("run", "--rm", "-v", f"{data}:/data:ro", BASE, "sh", "-c", "touch /data/x || echo refused")
    assert "refused" in r.stdout


def test_detached_container_outlives_composer_and_keeps_its_exit_code(eng: EngineEnv) -> None:
    p = eng.cli_process("run", "-d", "--name", "bg", BASE, "sh", "-c", "echo started; sleep 0.5; exit 7")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 64
    assert eng.cli("wait", "bg").stdout == "7\n"  # conmon recorded it; composer was gone
    doc = inspect(eng, cid[:12])
    assert doc["State"]["Status"] == "exited"
    assert doc["State"]["ExitCode"] == 7
    assert doc["Name"] == "/bg"
    assert doc["Id"] == cid
    assert eng.cli("logs", "bg").stdout == "started\n"
    ls = eng.cli("ls", "-a", "--format", "json")
    row = json.loads(ls.stdout)
    assert row["Names"] == "bg"
    assert row["State"] == "exited"
    assert row["Status"].startswith("Exited (7)")


def test_stop_escalates_to_sigkill_after_the_grace_period(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "stubborn", BASE, "sleep", "100")  # PID 1 ignores SIGTERM
    started = time.monotonic()
    r = eng.cli("stop", "-t", "1", "stubborn")
    elapsed = time.monotonic() - started
    assert (r.code, r.stdout) == (0, "stubborn\n")
    assert 0.9 <= elapsed < 5
    assert inspect(eng, "stubborn")["State"]["ExitCode"] == 137


def test_stop_signal_handled_by_the_process(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "polite", BASE, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
    time.sleep(0.3)
    assert eng.cli("stop", "polite").code == 0
    assert inspect(eng, "polite")["State"]["ExitCode"] == 0


def test_restart_start_again_pause_and_kill(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "c", BASE, "sh", "-c", "echo run; sleep 100")
    time.sleep(0.2)
    assert eng.cli("pause", "c").code == 0
    assert inspect(eng, "c")["State"]["Status"] == "paused"
    assert "(Paused)" in eng.cli("ls").stdout
    assert eng.cli("unpause", "c").code == 0
    assert inspect(eng, "c")["State"]["Status"] == "running"
    assert eng.cli("kill", "-s", "KILL", "c").code == 0
    assert eng.cli("wait", "c").stdout == "137\n"
    assert eng.cli("start", "c").code == 0  # an exited container starts again, same filesystem
    assert inspect(eng, "c")["State"]["Running"] is True
    assert eng.cli("restart", "-t", "0", "c").code == 0
    time.sleep(0.3)
    assert eng.cli("logs", "c").stdout == "run\nrun\nrun\n"


def test_rm_refuses_a_running_container_unless_forced(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "busy", BASE, "sleep", "100")
    r = eng.cli("rm", "busy")
    assert r.code == 1
    assert "stop it first or use --force" in r.stderr
    assert eng.cli("rm", "-f", "busy").stdout == "busy\n"
    assert eng.cli("ls", "-aq").stdout == ""


def test_names_are_unique_and_errors_are_one_line(eng: EngineEnv) -> None:
    assert eng.cli("create", "--name", "one", BASE, "true").code == 0
    r = eng.cli("create", "--name", "one", BASE, "true")
    assert r.code == 1
    assert 'name "/one" is already in use' in r.stderr
    for args in (["start", "nope"], ["run", "no/such-image"], ["run", "--network", "bridge", BASE]):
        r = eng.cli(*args)
        assert r.code == 1, args
        assert r.stderr.startswith("composer: error: "), args
        assert "Traceback" not in r.stderr


def test_logs_tail_timestamps_since_and_follow(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "talker", BASE, "sh", "-c", "for i in 1 2 3; do echo $i; done; sleep 1; echo 4")
    assert eng.cli("wait", "talker").stdout == "0\n"
    assert eng.cli("logs", "-n", "2", "talker").stdout == "3\n4\n"
    stamped = eng.cli("logs", "-t", "talker").stdout.splitlines()
    assert len(stamped) == 4
    assert stamped[0].endswith("Z 1")
    assert stamped[0][:4].isdigit()
    assert eng.cli("logs", "--since", "0.8s", "talker").stdout in ("4\n", "")
    assert eng.cli("logs", "--until", "2000-01-01", "talker").stdout == ""
    eng.cli("run", "-d", "--name", "slow", BASE, "sh", "-c", "echo a; sleep 0.5; echo b >&2; sleep 0.5; echo c")
    r = eng.cli("logs", "-f", "slow")
    assert (r.stdout, r.stderr) == ("a\nc\n", "b\n")


def test_ls_filters_and_quiet(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "up1", "-l", "role=web", BASE, "sleep", "100")
    eng.cli("create", "--name", "idle", "-l", "role=db", BASE, "true")
    assert eng.cli("ls", "--format", "{{.Names}}").stdout == "up1\n"
    assert sorted(eng.cli("ls", "-a", "--format", "{{.Names}}").stdout.split()) == ["idle", "up1"]
    assert eng.cli("ls", "-a", "-f", "label=role=db", "--format", "{{.Names}}").stdout == "idle\n"
    assert eng.cli("ls", "-a", "-f", "status=created", "--format", "{{.Names}} {{.Status}}").stdout == "idle Created\n"
    table = eng.cli("ls").stdout.splitlines()
    assert table[0].split("   ")[0] == "CONTAINER ID"
    assert "up1" in table[1]
    assert '"sleep 100"' in table[1]
    assert eng.cli("inspect", "-f", "{{.State.Status}} {{.Config.Labels.role}}", "up1").stdout == "running web\n"


def test_memory_and_pids_limits_reach_the_cgroup(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "lim", "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", BASE, "sleep", "100")
    cid = inspect(eng, "lim")["Id"]
    pid = inspect(eng, "lim")["State"]["Pid"]
    cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    if "memory" in cgroups:  # cgroup v1 (or hybrid)
        assert Path(f"/sys/fs/cgroup/memory/{eng.tag}/{cid}/memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert Path(f"/sys/fs/cgroup/pids/{eng.tag}/{cid}/pids.max").read_text().strip() == "50"
        assert Path(f"/sys/fs/cgroup/cpu/{eng.tag}/{cid}/cpu.cfs_quota_us").read_text().strip() == "50000"
    else:
        base = Path(f"/sys/fs/cgroup/{eng.tag}/{cid}")
        assert (base / "memory.max").read_text().strip() == str(64 << 20)
        assert (base / "pids.max").read_text().strip() == "50"


def test_init_runs_the_command_under_an_init(eng: EngineEnv) -> None:
    from composer.runtime.hostprobe import find_init

    if find_init() is None:
        pytest.skip("no init binary (apt-get install -y catatonit)")
    r = eng.cli("run", "--rm", "--init", BASE, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
    first, pid = r.stdout.splitlines()
    assert first.startswith("/sbin/docker-init -- sh"), r.stderr
    assert pid != "1"


@pytest.mark.parametrize("point", ["create.after-record", "create.after-mount", "create.after-runtime"])
def test_killed_create_is_repaired_by_running_it_again(eng: EngineEnv, point: str) -> None:
    p = eng.cli_process("create", "--name", "phoenix", BASE, "sleep", "100", env={"COMPOSER_FAILPOINTS": point})
    assert p.returncode == -9, (p.returncode, p.stderr)
    again = eng.cli_process("run", "-d", "--name", "phoenix", BASE, "sleep", "100")
    assert again.returncode == 0, again.stderr
    assert eng.cli("ls", "-a", "--format", "{{.Names}} {{.State}}").stdout == "phoenix running\n"
    dirs = [d.name for d in (eng.engine.roots.containers).iterdir() if not d.name.startswith(".")]
    assert dirs == [again.stdout.strip()]


def test_killed_rm_is_repaired_by_running_it_again(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "doomed", BASE, "sleep", "100")
    p = eng.cli_process("rm", "-f", "doomed", env={"COMPOSER_FAILPOINTS": "rm.after-intent"})
    assert p.returncode == -9
    assert eng.cli("ls", "-aq").stdout == ""  # the half-removed container is finished off
    assert eng.cli("rm", "-f", "doomed").code == 1  # and is gone for good


def test_killed_start_is_repaired_by_running_it_again(eng: EngineEnv) -> None:
    eng.cli("create", "--name", "late", BASE, "sleep", "100")
    p = eng.cli_process("start", "late", env={"COMPOSER_FAILPOINTS": "start.before-start"})
    assert p.returncode == -9
    assert eng.cli("start", "late").code == 0
    assert inspect(eng, "late")["State"]["Status"] == "running"


def test_commands_on_one_container_serialize(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "shared", BASE, "sleep", "100")
    stopper = subprocess.Popen([sys.executable, "-m", "composer", "container", "stop", "-t", "1", "shared"],
                               env={**os.environ, **eng.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.4)  # `stop` holds the lock through its grace period
    removed = eng.cli_process("rm", "shared")  # without the lock this would find it running
    assert stopper.wait(timeout=30) == 0
    assert removed.returncode == 0, removed.stderr


def test_missing_runtime_and_not_root_are_one_line(eng: EngineEnv) -> None:
    for r in (eng.cli("ls", env={"COMPOSER_RUNTIME": "no-such-runc"}), eng.cli("--runtime", "/nope/runc", "ls")):
        assert r.code == 1
        assert r.stderr.count("\n") == 1
        assert "apt-get install -y runc" in r.stderr
    r = eng.cli("ls", env={"COMPOSER_CONMON": "no-conmon"})
    assert r.code == 1
    assert "apt-get install -y conmon" in r.stderr


def test_not_root_is_one_line(eng: EngineEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # as another user the checkout may not even be readable, so only the uid is faked here
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = eng.cli("ls")
    assert r.code == 1
    assert r.stderr.count("\n") == 1
    assert "needs root" in r.stderr


def test_image_rm_is_refused_while_a_container_uses_it(eng: EngineEnv) -> None:
    assert eng.cli("create", "--name", "user", BASE, "true").code == 0
    r = run_cli(eng.tmp, ["image", "rm", BASE], env=eng.env)
    assert r.code == 1
    assert "a container is using its referenced image" in r.stderr
    prune = run_cli(eng.tmp, ["image", "prune", "-a", "-f"], env=eng.env)
    assert "composer-fixture/base" not in prune.stdout
    assert eng.cli("start", "user").code == 0  # its layers are all still there
    assert eng.cli("rm", "-f", "user").code == 0
    assert run_cli(eng.tmp, ["image", "rm", BASE], env=eng.env).code == 0


def test_detached_rm_container_is_gone_once_it_exits(eng: EngineEnv) -> None:
    r = eng.cli("run", "-d", "--rm", "--name", "brief", BASE, "sh", "-c", "sleep 0.3")
    assert r.code == 0
    assert eng.cli("ls", "-aq").stdout.strip() == r.stdout.strip()[:12]
    time.sleep(0.8)
    assert eng.cli("ls", "-aq").stdout == ""
    assert not (eng.engine.roots.containers / r.stdout.strip()).exists()


def test_killed_stop_is_repaired_by_running_it_again(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "tough", BASE, "sleep", "100")
    p = eng.cli_process("stop", "-t", "1", "tough", env={"COMPOSER_FAILPOINTS": "stop.after-term"})
    assert p.returncode == -9
    assert inspect(eng, "tough")["State"]["Status"] == "running"  # sleep as PID 1 ignores SIGTERM
    assert eng.cli("stop", "-t", "1", "tough").code == 0
    assert inspect(eng, "tough")["State"]["ExitCode"] == 137
