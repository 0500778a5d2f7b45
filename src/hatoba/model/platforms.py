"""Platforms as Docker names them: Go's GOARCH names for the machine names uname gives
(Docker's /version and `docker version` say `amd64` where /info and uname say `x86_64`), and
a create's `platform` (containerd's platforms.Parse and its matcher, normalised names)."""

from __future__ import annotations

from hatoba.errors import InvalidArgument, NotFound

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


_KNOWN_OS = {"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos"}
# containerd's normalizeArch: other spellings of an architecture, and the variant they imply
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", ""),
}
_KNOWN_ARCH = {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64", "mips64le"}


def parse_platform(text: str, host_machine: str) -> tuple[str, str, str]:
    """(os, architecture, variant) of `os[/arch[/variant]]` or of a bare architecture; the
    host's architecture where none is named."""
    parts = text.lower().split("/")

    def arch_of(name: str, variant: str) -> tuple[str, str]:
        arch, implied = _ARCH_ALIASES.get(name, (name, ""))
        if arch not in _KNOWN_ARCH:
            raise InvalidArgument(f'"{text}": unknown operating system or architecture')
        return arch, variant or implied

    if len(parts) == 1:
        if parts[0] in _KNOWN_OS:
            return parts[0], goarch(host_machine), ""
        return ("linux", *arch_of(parts[0], ""))
    if len(parts) > 3 or parts[0] not in _KNOWN_OS:
        raise InvalidArgument(f'"{text}": unknown operating system or architecture')
    return (parts[0], *arch_of(parts[1], parts[2] if len(parts) == 3 else ""))


def check_platform(
    requested: str, reference: str, image: tuple[str, str, str], host_machine: str
) -> None:
    """A create's `platform` against the image's (os, architecture, variant): Docker 20.10's
    404 when they differ."""
    os_name, arch, variant = parse_platform(requested, host_machine)
    image_os, image_arch, image_variant = image
    if (os_name, arch) != (image_os, image_arch) or (variant and variant != image_variant):
        wanted = "/".join(filter(None, (os_name, arch, variant)))
        actual = "/".join(filter(None, image))
        raise NotFound(
            f"image with reference {reference} was found but does not match the specified "
            f"platform: wanted {wanted}, actual: {actual}"
        )
