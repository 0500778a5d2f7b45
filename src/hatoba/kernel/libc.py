"""The few libc calls Python 3.11 lacks (setns, unshare, mount, umount2, prctl, and the new
mount API's fsopen, fsconfig and fsmount)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from hatoba.errors import KernelError

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 0x2

# the new mount API (Linux 5.2): one number on every architecture
_SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 430, 431, 432
_FSOPEN_CLOEXEC = _FSMOUNT_CLOEXEC = 1
_FSCONFIG_CMD_CREATE = 6

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise KernelError(f"{what}: {os.strerror(err)}", err)


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | None,
    target: str,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    _check(
        _libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            flags,
            data.encode() if data is not None else None,
        ),
        f"mount {source} on {target}",
    )


def bind(source: str, target: str, *, recursive: bool, readonly: bool) -> None:
    """`source` seen at `target` too; read-only takes a second mount call (the kernel ignores
    MS_RDONLY on the bind itself)."""
    flags = MS_BIND | (MS_REC if recursive else 0)
    mount(source, target, None, flags)
    if readonly:
        mount(None, target, None, flags | MS_REMOUNT | MS_RDONLY)


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def umount_all(target: str) -> None:
    """Detach whatever is mounted on `target` in this mount namespace (nothing: no error)."""
    while _libc.umount2(target.encode(), MNT_DETACH) == 0:
        pass


def detached_mount(fstype: str) -> int:
    """A new instance of the file system `fstype`, mounted nowhere: a descriptor of its root
    (it goes when that closes)."""
    fs = _descriptor(_libc.syscall(ctypes.c_long(_SYS_FSOPEN), fstype.encode(), _FSOPEN_CLOEXEC))
    try:
        create = _libc.syscall(
            ctypes.c_long(_SYS_FSCONFIG), fs, _FSCONFIG_CMD_CREATE, None, None, 0
        )
        _check(create, f"fsconfig {fstype}")
        return _descriptor(_libc.syscall(ctypes.c_long(_SYS_FSMOUNT), fs, _FSMOUNT_CLOEXEC, 0))
    finally:
        os.close(fs)


def _descriptor(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise KernelError(f"new mount: {os.strerror(err)}", err)
    return result


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), "prctl")
