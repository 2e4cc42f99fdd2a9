"""Which Compose keys composer honours: one table, checked against the models, warned about, documented.

Every field of the project model (walked from the pydantic models themselves, through nested models,
lists and maps of models) has one entry here, keyed by its dotted path (`services.*.deploy.resources.limits.cpus`,
`services.*.volumes[].bind.propagation`). A key is `honoured` only when the engine or the Compose layer acts
on it and the named test shows it; `partial` when part of it works (or it works but no test shows it yet);
`ignored` when composer does nothing with it; `refused` when composer stops with an error rather than
pretend. `unsupported_keys` finds the ignored (and partly honoured) keys a loaded file uses, so the user is
told at `file:line` instead of being silently let down; `tests/schema/test_support.py` keeps the table and
the models in step, and `docs/support.md` is `python -m composer.schema.support --markdown`.

Pure: no I/O (the `__main__` block only writes the markdown to stdout).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from composer.errors import Span
from composer.schema.models_common import EXTENSIONS_ALIAS

if TYPE_CHECKING:
    from composer.schema.loader import LoadedProject

Status = Literal["honoured", "partial", "ignored", "refused"]
STATUSES: tuple[Status, ...] = ("honoured", "partial", "ignored", "refused")
Shape = Literal["scalar", "model", "list", "dict"]


@dataclass(frozen=True, slots=True)
class Support:
    """How composer treats one key. `instead` is what a warning says composer does (empty: no warning)."""

    status: Status
    note: str
    test: str = ""
    instead: str = ""


def _h(test: str, note: str = "") -> Support:
    return Support("honoured", note, test)


def _p(note: str, instead: str = "", test: str = "") -> Support:
    """Partly honoured; warned about only when `instead` says what the user does not get."""
    return Support("partial", note, test, instead)


def _untested(where: str) -> Support:
    return Support("partial", f"acted on ({where}) but no test covers it yet")


def _i(note: str, instead: str = "ignored") -> Support:
    return Support("ignored", note, "", instead)


def _r(note: str, test: str = "") -> Support:
    return Support("refused", note, test)


def _under(prefix: str, keys: str, entry: Support) -> dict[str, Support]:
    """`.` is `prefix` itself; `[].x` is a key of the list's items; `x` a key below `prefix`."""
    return {prefix if k == "." else prefix + k if k.startswith("[") else f"{prefix}.{k}": entry for k in keys.split()}


# --- tests that show a key at work ---------------------------------------------------------------

_OCI = "tests/planner/test_ocispec.py::"
_GOLDEN = _OCI + "test_golden_spec"
_V1 = _OCI + "test_resources_v1"
_DEPLOY_RES = _OCI + "test_resources_from_deploy_and_docker_defaults"
_NS = _OCI + "test_namespaces"
_HEALTH = "tests/planner/test_health.py::"
_RESTARTS = "tests/planner/test_restarts.py::"
_PLAN = "tests/planner/test_plan.py::"
_FILES = "tests/planner/test_files.py::test_targets_owner_and_mode_defaults"
_HOOKS = "tests/runtime/compose/test_secrets_hooks.py::test_secrets_configs_and_hooks"
_UP = "tests/runtime/compose/test_up_down.py::test_up_wait_ps_and_down_leave_nothing"
_RECREATE = "tests/runtime/compose/test_up_down.py::test_recreate_on_change_keeps_named_volume_data"
_STACK = "tests/runtime/compose/test_stack_network.py::test_fixture_stack"
_RESOLV = "tests/runtime/engine/test_engine_pure.py::test_hosts_and_resolv_conf"
_VOLS = "tests/runtime/engine/test_volumes.py::"
_PORTS = "tests/runtime/engine/test_ports_cli.py::test_published_port_serves_from_loopback"
_IPAM = "tests/planner/test_ipam.py::test_configured_subnet_range_gateway_aux"
_LOADER = "tests/schema/test_loader.py::"

_SWARM = "a Swarm setting; Docker Compose ignores it too"
_WINDOWS = "Windows containers only"
_BUILD = "tests/runtime/build/test_build.py::"

_BUILD_KEYS = (
    ". context dockerfile dockerfile_inline entitlements args provenance sbom ssh labels cache_from cache_to "
    "no_cache additional_contexts pull extra_hosts isolation network target secrets secrets[].source "
    "secrets[].target secrets[].uid secrets[].gid secrets[].mode shm_size tags ulimits ulimits.*.soft "
    "ulimits.*.hard platforms privileged"
)
_WATCH = (
    ". watch watch[].path watch[].action watch[].target watch[].exec watch[].exec.command watch[].exec.user "
    "watch[].exec.privileged watch[].exec.working_dir watch[].exec.environment watch[].include "
    "watch[].ignore watch[].initial_sync"
)
_BLKIO = (
    ". weight weight_device weight_device[].path weight_device[].weight device_read_bps device_read_bps[].path "
    "device_read_bps[].rate device_read_iops device_read_iops[].path device_read_iops[].rate device_write_bps "
    "device_write_bps[].path device_write_bps[].rate device_write_iops device_write_iops[].path "
    "device_write_iops[].rate"
)
_UPDATE = ". parallelism delay failure_action monitor max_failure_ratio order"
_DEVICE_REQUEST = ". [].capabilities [].driver [].count [].device_ids [].options"


def _service_table() -> dict[str, Support]:
    s = "services.*"
    t: dict[str, Support] = {
        f"{s}.profiles": _h("tests/schema/test_profiles.py::test_services_without_profiles_are_always_enabled"),
        f"{s}.annotations": _h(_OCI + "test_stop_signal_labels_and_annotations", "OCI annotations of the bundle"),
        f"{s}.attach": _untested("foreground `up` leaves `attach: false` services out of its log stream"),
        f"{s}.cap_add": _h(_OCI + "test_cap_add_and_drop"),
        f"{s}.cap_drop": _h(_OCI + "test_cap_add_and_drop"),
        f"{s}.cgroup_parent": _i("containers always go under $COMPOSER_CGROUP_PARENT",
                                 "ignored (containers go under $COMPOSER_CGROUP_PARENT)"),
        f"{s}.cgroup": _h(_NS, "host or private cgroup namespace"),
        f"{s}.cpu_count": _i(_WINDOWS),
        f"{s}.cpu_percent": _i(_WINDOWS),
        f"{s}.cpu_period": _h(_DEPLOY_RES),
        f"{s}.cpu_quota": _h(_DEPLOY_RES),
        f"{s}.cpu_rt_period": _i("no real-time CPU scheduling"),
        f"{s}.cpu_rt_runtime": _i("no real-time CPU scheduling"),
        f"{s}.cpus": _h(_V1),
        f"{s}.cpuset": _h(_V1),
        f"{s}.cpu_shares": _h(_V1),
        f"{s}.command": _h(_OCI + "test_entrypoint_cmd_matrix"),
        f"{s}.configs": _h(_HOOKS, "mounted read-only at /<name> or target"),
        f"{s}.configs[].source": _h(_HOOKS),
        f"{s}.configs[].target": _h(_HOOKS),
        f"{s}.configs[].uid": _h(_FILES),
        f"{s}.configs[].gid": _h(_FILES),
        f"{s}.configs[].mode": _h(_FILES),
        f"{s}.container_name": _h(_PLAN + "test_container_name_cannot_scale"),
        f"{s}.depends_on": _h(_PLAN + "test_fresh_project_creates_network_then_services_in_dependency_order"),
        f"{s}.depends_on.*.condition": _h(_UP, "service_started, service_healthy, service_completed_successfully"),
        f"{s}.depends_on.*.restart": _h(_PLAN + "test_always_recreate_deps_and_restart_true"),
        f"{s}.depends_on.*.required": _h(
            "tests/schema/test_profiles.py::test_optional_dependency_on_disabled_service_is_fine",
            "checked by the loader and the planner; the runtime side has no test yet"),
        f"{s}.deploy": _p("see its keys: resources, replicas and restart_policy work, the Swarm keys do not"),
        f"{s}.deploy.mode": _i("composer runs `replicas` containers; global and job modes are Swarm's",
                               "ignored (composer runs `replicas` containers)"),
        f"{s}.deploy.replicas": _untested("planner/desired.py replicas()"),
        f"{s}.deploy.labels": _i("labels of the Swarm service; Docker Compose ignores them too"),
        f"{s}.deploy.resources": _p("see its keys: limits work, reservations only for memory"),
        f"{s}.deploy.resources.limits": _h(_DEPLOY_RES),
        f"{s}.deploy.resources.limits.cpus": _h(_DEPLOY_RES),
        f"{s}.deploy.resources.limits.memory": _h(_DEPLOY_RES),
        f"{s}.deploy.resources.limits.pids": _h(_DEPLOY_RES),
        f"{s}.deploy.resources.reservations": _p("only memory is reserved"),
        f"{s}.deploy.resources.reservations.cpus": _i("no CPU reservation (use cpu_shares)"),
        f"{s}.deploy.resources.reservations.memory": _h(_DEPLOY_RES, "a soft limit, as Docker sets it"),
        f"{s}.deploy.resources.reservations.generic_resources": _i(_SWARM),
        f"{s}.deploy.resources.reservations.generic_resources[].discrete_resource_spec": _i(_SWARM),
        f"{s}.deploy.resources.reservations.generic_resources[].discrete_resource_spec.kind": _i(_SWARM),
        f"{s}.deploy.resources.reservations.generic_resources[].discrete_resource_spec.value": _i(_SWARM),
        f"{s}.deploy.restart_policy": _h(_RESTARTS + "test_deploy_restart_policy_wins_and_maps_conditions",
                                         "wins over `restart`"),
        f"{s}.deploy.restart_policy.condition": _h(_RESTARTS + "test_deploy_restart_policy_wins_and_maps_conditions"),
        f"{s}.deploy.restart_policy.delay": _h(_RESTARTS + "test_backoff_wait_uses_deploy_delay_as_floor"),
        f"{s}.deploy.restart_policy.max_attempts": _h(
            _RESTARTS + "test_should_restart_on_failure_counts_attempts"),
        f"{s}.deploy.restart_policy.window": _h(_RESTARTS + "test_deploy_restart_policy_wins_and_maps_conditions"),
        f"{s}.deploy.endpoint_mode": _i(_SWARM),
        f"{s}.device_cgroup_rules": _h(_OCI + "test_devices"),
        f"{s}.devices": _h(_OCI + "test_devices"),
        f"{s}.devices[].source": _h(_OCI + "test_devices"),
        f"{s}.devices[].target": _h(_OCI + "test_devices"),
        f"{s}.devices[].permissions": _h(_OCI + "test_devices"),
        f"{s}.dns": _h(_RESOLV, "written to the container's resolv.conf"),
        f"{s}.dns_opt": _h(_RESOLV),
        f"{s}.dns_search": _h(_RESOLV),
        f"{s}.domainname": _h(_OCI + "test_sysctls", "kernel.domainname and /etc/hosts"),
        f"{s}.entrypoint": _h(_OCI + "test_entrypoint_cmd_matrix"),
        f"{s}.environment": _h(_OCI + "test_environment_order_and_overrides"),
        f"{s}.env_file": _h(_LOADER + "test_70_71_environment_beats_env_file_and_env_file_order",
                            "read by the loader into environment"),
        f"{s}.env_file[].path": _h(_LOADER + "test_70_71_environment_beats_env_file_and_env_file_order"),
        f"{s}.env_file[].required": _h(_LOADER + "test_70_optional_env_file"),
        f"{s}.env_file[].format": _untested("schema/complete.py reads `raw` files verbatim"),
        f"{s}.expose": _h("tests/runtime/engine/test_ports_pure.py::test_publish_flags_become_long_syntax",
                          "metadata (inspect), as in Docker: it opens nothing"),
        f"{s}.extends": _h("tests/schema/test_extends.py::test_mapping_form_same_file_and_own_keys_win"),
        f"{s}.extends.file": _h("tests/schema/test_extends.py::test_other_file_paths_resolved_against_its_directory"),
        f"{s}.extends.service": _h("tests/schema/test_extends.py::test_string_form_same_file"),
        f"{s}.external_links": _i("containers outside the project are not linked"),
        f"{s}.extra_hosts": _h(_RESOLV, "added to the container's /etc/hosts"),
        f"{s}.group_add": _h(_GOLDEN),
        f"{s}.hostname": _h(_OCI + "test_environment_order_and_overrides"),
        f"{s}.healthcheck": _h(_UP, "run through exec by the project's supervisor"),
        f"{s}.healthcheck.test": _h(_HEALTH + "test_cmd_runs_as_given_and_a_string_test_is_shell"),
        f"{s}.healthcheck.timeout": _h(_HEALTH + "test_durations_strings_and_numbers_of_seconds"),
        f"{s}.healthcheck.interval": _h(_HEALTH + "test_durations_strings_and_numbers_of_seconds"),
        f"{s}.healthcheck.retries": _h(_HEALTH + "test_failures_count_up_to_retries_then_unhealthy"),
        f"{s}.healthcheck.start_period": _h(
            _HEALTH + "test_next_interval_uses_start_interval_only_while_starting_in_the_start_period"),
        f"{s}.healthcheck.start_interval": _h(
            _HEALTH + "test_next_interval_uses_start_interval_only_while_starting_in_the_start_period"),
        f"{s}.healthcheck.disable": _h(_HEALTH + "test_disable_and_none_turn_the_image_check_off"),
        f"{s}.image": _h(_PLAN + "test_image_id_change_recreates",
                         "must already be in the store (`composer image load`): no pull yet"),
        f"{s}.init": _h(_OCI + "test_init_wraps_the_command_and_mounts_the_binary"),
        f"{s}.ipc": _h(_OCI + "test_ipc_modes"),
        f"{s}.isolation": _i(_WINDOWS),
        f"{s}.labels": _h(_PLAN + "test_labels_and_engine_spec"),
        f"{s}.label_file": _untested("schema/complete.py folds it into labels"),
        f"{s}.links": _h("tests/runtime/engine/test_links.py::test_link_alias_resolves_and_follows_recreation"),
        f"{s}.logging": _i("logs always go to composer's own log file (ctr.log, read by `logs`)",
                           "ignored (logs go to composer's own log file)"),
        f"{s}.logging.driver": _i("the only log driver is composer's k8s-file log",
                                  "ignored (logs go to composer's own log file)"),
        f"{s}.logging.options": _i("the only log driver is composer's k8s-file log",
                                   "ignored (logs go to composer's own log file)"),
        f"{s}.mem_limit": _h(_V1),
        f"{s}.mem_reservation": _h(_V1),
        f"{s}.memswap_limit": _h(_V1, "ignored with a warning on hosts without swap accounting"),
        f"{s}.mem_swappiness": _h(_V1, "cgroup v1 only; a warning on v2"),
        f"{s}.mac_address": _i("only the per-network key is read", "ignored (set networks.<name>.mac_address)"),
        f"{s}.network_mode": _h(_NS, "none, host, service:NAME, container:NAME"),
        f"{s}.networks": _h(_STACK, "one veth per network, eth0, eth1... in order"),
        f"{s}.networks.*.aliases": _h("tests/runtime/engine/test_networking_cli.py::"
                                      "test_names_resolve_on_shared_networks_and_follow_changes",
                                      "names in peers' /etc/hosts (no DNS server)"),
        f"{s}.networks.*.driver_opts": _i("no per-endpoint driver options"),
        f"{s}.networks.*.gw_priority": _untested("runtime/engine/networks.py picks the default route"),
        f"{s}.networks.*.interface_name": _i("interfaces are always eth0, eth1... in order",
                                             "ignored (interfaces are named eth0, eth1... in order)"),
        f"{s}.networks.*.ipv4_address": _h("tests/runtime/engine/test_networking_cli.py::test_front_and_back"),
        f"{s}.networks.*.ipv6_address": _i("IPv4 only for now"),
        f"{s}.networks.*.link_local_ips": _i("no link-local addresses"),
        f"{s}.networks.*.mac_address": _untested("runtime/engine/networks.py"),
        f"{s}.networks.*.priority": _untested("runtime/engine/networks.py: the gw_priority fallback"),
        f"{s}.oom_kill_disable": _h(_V1, "cgroup v1 only; a warning on v2"),
        f"{s}.oom_score_adj": _h(_GOLDEN),
        f"{s}.pid": _h(_NS),
        f"{s}.pids_limit": _h(_GOLDEN),
        f"{s}.platform": _untested("runtime/compose/pull.py: the platform pulled from an index"),
        f"{s}.ports": _h(_PORTS, "DNAT rules in composer's nftables table"),
        f"{s}.ports[].name": _i("metadata only"),
        f"{s}.ports[].mode": _i("ingress/host is Swarm's; composer always publishes on the host",
                                "ignored (published on the host)"),
        f"{s}.ports[].host_ip": _h(_PORTS, "IPv4 only"),
        f"{s}.ports[].target": _h(_PORTS),
        f"{s}.ports[].published": _h(_PORTS),
        f"{s}.ports[].protocol": _untested("runtime/net/hostports.py (tcp, udp)"),
        f"{s}.ports[].app_protocol": _i("metadata only"),
        f"{s}.privileged": _h(_OCI + "test_privileged"),
        f"{s}.pull_policy": _h("tests/runtime/images/test_registry.py::test_ensure_images_follows_the_pull_policy"),
        f"{s}.pull_refresh_after": _i("use pull_policy every_<duration>"),
        f"{s}.read_only": _h(_OCI + "test_read_only_root_and_shm_size"),
        f"{s}.restart": _h("tests/runtime/engine/test_health_restart.py::"
                           "test_on_failure_restarts_twice_then_leaves_it_exited",
                           "kept by the project's supervisor, with back-off"),
        f"{s}.runtime": _i("composer runs its configured runtime (--runtime, COMPOSER_RUNTIME)",
                           "ignored (composer's configured runtime is used)"),
        f"{s}.scale": _h(_PLAN + "test_scale_up_and_down"),
        f"{s}.secrets": _h(_HOOKS, "mounted read-only at /run/secrets/<name> or target"),
        f"{s}.secrets[].source": _h(_HOOKS),
        f"{s}.secrets[].target": _h(_HOOKS),
        f"{s}.secrets[].uid": _h(_FILES),
        f"{s}.secrets[].gid": _h(_FILES),
        f"{s}.secrets[].mode": _h(_FILES),
        f"{s}.security_opt": _h(_OCI + "test_security_opt",
                                "no-new-privileges, seccomp, systempaths; label/apparmor accepted and not applied"),
        f"{s}.shm_size": _h(_OCI + "test_read_only_root_and_shm_size"),
        f"{s}.stdin_open": _untested("the container record; conmon keeps stdin open"),
        f"{s}.stop_grace_period": _untested("runtime/engine/engine.py: the record's stop timeout"),
        f"{s}.stop_signal": _h(_OCI + "test_stop_signal_labels_and_annotations"),
        f"{s}.storage_opt": _i("the overlay upper directory has no size option"),
        f"{s}.sysctls": _h(_OCI + "test_sysctls", "namespaced sysctls only; others are refused"),
        f"{s}.tmpfs": _h(_OCI + "test_tmpfs_options_merge_like_docker"),
        f"{s}.tty": _h(_OCI + "test_user_working_dir_and_terminal"),
        f"{s}.ulimits": _h(_OCI + "test_ulimits_replace_defaults_by_name"),
        f"{s}.ulimits.*.soft": _h(_OCI + "test_ulimits_replace_defaults_by_name"),
        f"{s}.ulimits.*.hard": _h(_OCI + "test_ulimits_replace_defaults_by_name"),
        f"{s}.use_api_socket": _i("there is no Docker API socket to mount"),
        f"{s}.user": _h(_OCI + "test_user_working_dir_and_terminal"),
        f"{s}.userns_mode": _i("no user namespaces"),
        f"{s}.uts": _h(_NS),
        f"{s}.volumes": _h(_RECREATE, "bind, volume and tmpfs; npipe, cluster and image are refused"),
        f"{s}.volumes[].type": _h(_RECREATE, "bind, volume, tmpfs; other types are refused at create"),
        f"{s}.volumes[].source": _h(_RECREATE),
        f"{s}.volumes[].target": _h(_RECREATE),
        f"{s}.volumes[].read_only": _h("tests/runtime/engine/test_engine_cli.py::test_read_only_root_and_bind_mounts"),
        f"{s}.volumes[].consistency": _i("macOS Docker Desktop only"),
        f"{s}.volumes[].bind": _p("see its keys"),
        f"{s}.volumes[].bind.selinux": _i("no SELinux relabelling", "ignored (the source is not relabelled)"),
        f"{s}.volumes[].bind.propagation": _untested("runtime/engine/engine.py _bind_mounts"),
        f"{s}.volumes[].bind.create_host_path": _untested("runtime/engine/engine.py _bind_mounts"),
        f"{s}.volumes[].bind.recursive": _i("bind mounts are always recursive (rbind)",
                                            "ignored (bind mounts are recursive)"),
        f"{s}.volumes[].volume": _h(_VOLS + "test_subpath_mounts_a_directory_of_the_volume"),
        f"{s}.volumes[].volume.labels": _untested("runtime/engine/volumes.py labels a volume made on first use"),
        f"{s}.volumes[].volume.nocopy": _h(_VOLS + "test_copy_up_skips_a_volume_that_has_content_and_nocopy"),
        f"{s}.volumes[].volume.subpath": _h(_VOLS + "test_subpath_mounts_a_directory_of_the_volume"),
        f"{s}.volumes[].tmpfs": _h(_VOLS + "test_tmpfs_long_syntax_size_and_mode"),
        f"{s}.volumes[].tmpfs.size": _h(_VOLS + "test_tmpfs_long_syntax_size_and_mode"),
        f"{s}.volumes[].tmpfs.mode": _h(_VOLS + "test_tmpfs_long_syntax_size_and_mode"),
        f"{s}.volumes[].image": _r("image mounts: the engine refuses `type: image`"),
        f"{s}.volumes[].image.subpath": _r("image mounts: the engine refuses `type: image`"),
        f"{s}.volumes_from": _h("tests/runtime/engine/test_volumes_from.py::test_data_container_pattern"),
        f"{s}.working_dir": _h(_OCI + "test_user_working_dir_and_terminal"),
    }
    for hook in ("post_start", "pre_stop"):
        t[f"{s}.{hook}"] = _h(_HOOKS, "run in the container through exec")
        t[f"{s}.{hook}[].command"] = _h(_HOOKS)
        t[f"{s}.{hook}[].user"] = _h(_HOOKS)
        for key in ("privileged", "working_dir", "environment"):
            t[f"{s}.{hook}[].{key}"] = _untested("runtime/compose/hooks.py")
    t.update(_under(f"{s}.build", _BUILD_KEYS, _i("not used by composer's builder")))
    t.update(_under(f"{s}.build", ". context args labels", _h(_BUILD + "test_compose_build_then_up")))
    t.update(_under(f"{s}.build", "dockerfile dockerfile_inline tags target no_cache network extra_hosts shm_size",
                    _h("tests/runtime/build/test_compose_build_keys.py::test_compose_build_keys")))
    t.update(_under(f"{s}.build", "pull",
                    _h("tests/runtime/build/test_build_pull.py::test_missing_base_is_pulled_and_pull_refreshes_it")))
    t.update(_under(f"{s}.build", "secrets secrets[].source secrets[].target",
                    _h("tests/runtime/build/test_run_mount.py::test_compose_build_secrets",
                       "for RUN --mount=type=secret; target is the secret's id")))
    t.update(_under(f"{s}.build", "secrets[].uid secrets[].gid secrets[].mode",
                    _i("RUN --mount=type=secret sets the file's uid, gid and mode")))
    t.update(_under(f"{s}.develop", _WATCH, _i("`watch` is not implemented")))
    t.update(_under(f"{s}.blkio_config", _BLKIO, _i("no block IO limits")))
    t.update(_under(f"{s}.credential_spec", ". config file registry", _i(_WINDOWS)))
    t.update(_under(f"{s}.deploy.update_config", _UPDATE, _i(_SWARM)))
    t.update(_under(f"{s}.deploy.rollback_config", _UPDATE, _i(_SWARM)))
    t.update(_under(f"{s}.deploy.placement", ". constraints preferences preferences[].spread max_replicas_per_node",
                    _i(_SWARM)))
    t.update(_under(f"{s}.deploy.resources.reservations.devices", _DEVICE_REQUEST, _i("no GPU or device reservations")))
    t.update(_under(f"{s}.gpus", _DEVICE_REQUEST, _i("no GPUs")))
    t.update(_under(f"{s}.models", ". *.endpoint_var *.model_var", _i("AI models (Docker Model Runner) are not run")))
    t.update(_under(f"{s}.provider", ". type options", _i("provider services (plugins) are not run")))
    return t


def _resource_table() -> dict[str, Support]:
    n, v, sec, cfg = "networks.*", "volumes.*", "secrets.*", "configs.*"
    t: dict[str, Support] = {
        "version": Support("ignored", "obsolete; the loader already warns that it is ignored"),
        "name": _h(_LOADER + "test_41_project_name_precedence"),
        "include": _h(_LOADER + "test_include_has_its_own_directory_and_dotenv"),
        "include[].path": _h(_LOADER + "test_include_has_its_own_directory_and_dotenv"),
        "include[].project_directory": _untested("schema/loader.py _apply_includes"),
        "include[].env_file": _untested("schema/loader.py _include_variables"),
        "services": _h(_UP, "one container per replica, named <project>-<service>-<n>"),
        "networks": _h(_STACK),
        f"{n}.name": _h(_LOADER + "test_78_resource_names"),
        f"{n}.driver": _h("tests/runtime/net/test_network_cli.py::test_bad_names_and_drivers_are_one_line",
                          "bridge, macvlan, ipvlan; any other driver is refused"),
        f"{n}.driver_opts": _p("macvlan/ipvlan `parent` and mode; bridge options are recorded, not applied",
                               "only macvlan/ipvlan options (parent, mode) take effect",
                               "tests/runtime/net/test_macvlan.py::test_driver_options_are_checked"),
        f"{n}.ipam": _h(_STACK),
        f"{n}.ipam.driver": _i("composer's own IPAM is always used"),
        f"{n}.ipam.config": _h(_STACK, "IPv4 entries; IPv6 ones are skipped"),
        f"{n}.ipam.config[].subnet": _h(_STACK),
        f"{n}.ipam.config[].gateway": _h(_IPAM),
        f"{n}.ipam.config[].ip_range": _h(_IPAM),
        f"{n}.ipam.config[].aux_addresses": _h(_IPAM),
        f"{n}.ipam.options": _i("composer's own IPAM takes no options"),
        f"{n}.external": _h(_PLAN + "test_external_network_must_exist"),
        f"{n}.internal": _h(_STACK),
        f"{n}.attachable": _i(_SWARM),
        f"{n}.labels": _h("tests/runtime/net/test_network_cli.py::test_create_inspect_and_remove"),
        f"{n}.enable_ipv4": _i("networks are always IPv4"),
        f"{n}.enable_ipv6": _r("IPv4 only: `up` stops with an error naming the network",
                               _PLAN + "test_enable_ipv6_is_refused"),
        "volumes": _h(_RECREATE),
        f"{v}.name": _h(_LOADER + "test_78_resource_names"),
        f"{v}.driver": _r("only `local`; any other driver is an error",
                          _VOLS + "test_driver_and_options_that_cannot_be_honoured_are_refused"),
        f"{v}.driver_opts": _r("driver options are an error for now",
                               _VOLS + "test_driver_and_options_that_cannot_be_honoured_are_refused"),
        f"{v}.external": _h("tests/runtime/compose/test_compose_modes.py::"
                             "test_sidecar_shares_the_namespace_and_externals_are_used_not_owned"),
        f"{v}.labels": _untested("runtime/compose/apply.py creates the volume with them"),
        "secrets": _h(_HOOKS),
        f"{sec}.name": _untested("planner/files.py: the engine store's name of an external secret"),
        f"{sec}.file": _h(_HOOKS),
        f"{sec}.environment": _h(_HOOKS),
        f"{sec}.external": _h("tests/runtime/compose/test_secrets_hooks.py::test_external_secret_from_the_engine_store",
                              "from `composer secret create`"),
        f"{sec}.labels": _i("secrets are files; labels are Swarm's"),
        f"{sec}.driver": _i(_SWARM),
        f"{sec}.driver_opts": _i(_SWARM),
        f"{sec}.template_driver": _i("no templating", "ignored (the content is used as is)"),
        "configs": _h(_HOOKS),
        f"{cfg}.name": Support("ignored", "only used for external configs, which are refused; the loader fills it in"),
        f"{cfg}.file": _h(_HOOKS),
        f"{cfg}.environment": _untested("runtime/compose/files.py"),
        f"{cfg}.content": _h(_HOOKS),
        f"{cfg}.external": _r("external configs are an error (use file, environment or content)"),
        f"{cfg}.labels": _i("configs are files; labels are Swarm's"),
        f"{cfg}.template_driver": _i("no templating", "ignored (the content is used as is)"),
    }
    t.update(_under("models", ". *.name *.model *.context_size *.runtime_flags",
                    _i("AI models (Docker Model Runner) are not run")))
    return t


def _build_table() -> dict[str, Support]:
    table = {**_resource_table(), **_service_table()}
    order = {path: index for index, path in enumerate(model_paths())}
    return dict(sorted(table.items(), key=lambda item: order.get(item[0], len(order))))


# --- the model walk -------------------------------------------------------------------------------


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """(suffix, model) for each model a field holds: `""` itself, `"[]"` in a list, `".*"` in a map."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType):
        return [found for arg in args for found in _models_in(arg)]
    if origin in (tuple, list):
        return [("[]" + suffix, model) for arg in args if arg is not Ellipsis for suffix, model in _models_in(arg)]
    if origin is dict:
        return [(".*" + suffix, model) for suffix, model in _models_in(args[1])]
    return []


def _walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, Shape, Any]]:
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key == EXTENSIONS_ALIAS:
            continue
        path = f"{prefix}.{key}" if prefix else key
        held = _models_in(info.annotation)
        shape: Shape = "scalar"
        if held:
            suffix = held[0][0]
            shape = "list" if suffix.startswith("[]") else "dict" if suffix.startswith(".*") else "model"
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        yield path, shape, default
        for suffix, inner in dict.fromkeys(held):
            yield from _walk(inner, path + suffix)


def _shapes() -> dict[str, tuple[Shape, Any]]:
    from composer.schema.models import Project

    out: dict[str, tuple[Shape, Any]] = {}
    for path, shape, default in _walk(Project, ""):
        out.setdefault(path, (shape, default))
    return out


_SHAPES: dict[str, tuple[Shape, Any]] | None = None


def _model_shapes() -> dict[str, tuple[Shape, Any]]:
    global _SHAPES
    if _SHAPES is None:
        _SHAPES = _shapes()
    return _SHAPES


def model_paths() -> list[str]:
    """Every key of the project model, as a dotted path, in the models' field order."""
    return list(_model_shapes())


_TABLE: dict[str, Support] | None = None


def table() -> dict[str, Support]:
    """The support table, in the models' field order."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _build_table()
    return _TABLE


# --- warnings for a loaded file -------------------------------------------------------------------


def message(path: str, entry: Support) -> str:
    """What the user reads about one key at one place of the file."""
    if entry.status == "ignored":
        return f"{path} is not supported by composer's native engine: {entry.instead or 'ignored'}"
    return f"{path} is only partly supported by composer's native engine: {entry.instead}"


def _warns(entry: Support) -> bool:
    return bool(entry.instead) and entry.status in ("ignored", "partial")


def _unset(value: Any, default: Any) -> bool:
    """A key set to its default changes nothing (short syntax spells some defaults out, e.g. `mode: ingress`)."""
    empty: tuple[Any, ...] = (None, False, 0, "", (), [], {})
    if value in empty and default in empty:
        return True
    if isinstance(default, tuple):
        default = list(default)
    if isinstance(value, tuple):
        value = list(value)
    if value == default:
        return True
    scalar = (str, int, float, bool)
    return isinstance(value, scalar) and isinstance(default, scalar) and str(value).lower() == str(default).lower()


def _scan(node: Any, pattern: str, shown: str, out: list[tuple[str, Span | None]]) -> None:
    from composer.schema.tree import YMap, YSeq

    if not isinstance(node, YMap):
        return
    shapes, entries = _model_shapes(), table()
    for key, value in node.items():
        if not isinstance(key, str) or key.startswith("x-"):
            continue
        path = f"{pattern}.{key}" if pattern else key
        where = f"{shown}.{key}" if shown else key
        entry = entries.get(path)
        if entry is None or path not in shapes:
            continue  # an unknown key: validation has said so already
        shape, default = shapes[path]
        if _warns(entry) and not _unset(value, default):
            out.append((message(where, entry), node.key_span(key)))
            if entry.status == "ignored":
                continue  # one warning for an ignored object, not one per key inside it
        if shape == "model":
            _scan(value, path, where, out)
        elif shape == "list" and isinstance(value, YSeq):
            for index, item in enumerate(value):
                _scan(item, path + "[]", f"{where}[{index}]", out)
        elif shape == "dict" and isinstance(value, YMap):
            for name, item in value.items():
                _scan(item, f"{path}.*", f"{where}.{name}", out)


def unsupported_keys(loaded: LoadedProject) -> list[tuple[str, Span | None]]:
    """(message, where) for each key of the loaded file that composer ignores or only partly honours."""
    out: list[tuple[str, Span | None]] = []
    _scan(loaded.doc, "", "", out)
    return out


# --- the documentation ----------------------------------------------------------------------------


def counts() -> dict[Status, int]:
    out: dict[Status, int] = dict.fromkeys(STATUSES, 0)
    for entry in table().values():
        out[entry.status] += 1
    return out


def markdown() -> str:
    """docs/support.md: the table, one row per key."""
    total = counts()
    summary = ", ".join(f"{total[s]} {s}" for s in STATUSES)
    lines = [
        "# Compose keys: what composer honours",
        "",
        "Generated by `python -m composer.schema.support --markdown > docs/support.md` from the table in",
        "`composer/schema/support.py`; `tests/schema/test_support.py` fails when a key of the model is missing",
        "from it or this file is stale. A key is *honoured* when composer acts on it and the named test shows it;",
        "*partial* when only part of it works or no test covers it yet; *ignored* when composer does nothing with",
        "it; *refused* when composer stops with an error instead. A file that uses an ignored key (or a partly",
        "honoured one that says what is missing) gets one warning per use, naming `file:line`; `--strict` makes",
        "those warnings errors.",
        "",
        f"{len(table())} keys: {summary}.",
        "",
        "| key | status | notes | test |",
        "|---|---|---|---|",
    ]
    for path, entry in table().items():
        note = entry.note.replace("|", "\\|")
        test = f"`{entry.test}`" if entry.test else ""
        lines.append(f"| `{path}` | {entry.status} | {note} | {test} |")
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> int:
    import sys

    if argv != ["--markdown"]:
        sys.stderr.write("usage: python -m composer.schema.support --markdown\n")
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))


__all__ = ["STATUSES", "Support", "counts", "markdown", "message", "model_paths", "table", "unsupported_keys"]
