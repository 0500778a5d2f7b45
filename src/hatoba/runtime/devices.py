"""Host device nodes a container gets: each `--device` (a node, or a folder of them), and
every device of the host for a privileged container. Read with lstat, as runc's
DeviceFromPath and HostDevices read them; errors in Docker's words.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence

from hatoba.errors import InvalidArgument
from hatoba.model.security import DeviceMapping
from hatoba.runtime.spec import Device

# what runc's HostDevices leaves out of /dev: the container has its own of these
_SKIPPED_FOLDERS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


class NotADevice(Exception):
    """runc's ErrNotADevice."""


def device_at(path: str, permissions: str = "rwm") -> Device:
    st = os.lstat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise NotADevice(path)
    return Device(
        path=path,
        type=kind,
        major=os.major(st.st_rdev),
        minor=os.minor(st.st_rdev),
        file_mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        permissions=permissions,
    )


def mapped(mappings: Sequence[DeviceMapping]) -> list[Device]:
    """The devices of `--device` flags, named where the container sees them (moby's
    DevicesFromPath: a link is followed, a folder gives every device below it)."""
    return [device for mapping in mappings for device in _from_path(mapping)]


def _from_path(mapping: DeviceMapping) -> list[Device]:
    source = mapping.path_on_host
    if os.path.islink(source):
        source = os.path.realpath(source)
    try:
        device = device_at(source, mapping.permissions)
    except NotADevice:
        found = [
            _renamed(device, source, mapping.path_in_container)
            for device in _below(source, mapping.permissions)
        ]
        if found:
            return found
        reason = "not a device node"
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
    else:
        return [_renamed(device, device.path, mapping.path_in_container)]
    raise InvalidArgument(
        "error gathering device information while adding custom device "
        f'"{mapping.path_on_host}": {reason}'
    )


def _renamed(device: Device, source: str, destination: str) -> Device:
    return Device(
        destination + device.path[len(source) :],
        device.type,
        device.major,
        device.minor,
        device.file_mode,
        device.uid,
        device.gid,
        device.permissions,
    )


def _below(folder: str, permissions: str) -> Iterator[Device]:
    if not os.path.isdir(folder):
        return
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            try:
                yield device_at(os.path.join(parent, name), permissions)
            except (NotADevice, OSError):
                continue


def host_devices(root: str = "/dev") -> list[Device]:
    """Every device node under /dev but the container's own (runc's HostDevices)."""
    found: list[Device] = []
    for parent, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_FOLDERS]
        for name in sorted(files):
            if parent == root and name == "console":
                continue
            try:
                found.append(device_at(os.path.join(parent, name)))
            except (NotADevice, OSError):
                continue
    return found
