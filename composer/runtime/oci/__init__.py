"""Containers on an OCI runtime (runc) supervised by conmon.

The split keeps what can be tested without root pure: `paths` (the state layout), `conmon.conmon_argv`
and `logs.parse_log`; `rootfs` mounts the overlay, `lifecycle` drives runc and conmon.
"""
