"""Go's GOARCH names for the machine names uname gives: Docker's /version and `docker
version` say `amd64` where /info and uname say `x86_64`."""

from __future__ import annotations

_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
}


def goarch(machine: str) -> str:
    return _GOARCH.get(machine, machine)
