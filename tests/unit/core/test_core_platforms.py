"""Platforms as Docker names them: GOARCH names, and a create's `platform` checked against
the image's with Docker 20.10's words."""

from __future__ import annotations

import pytest

from hatoba.errors import InvalidArgument, NotFound
from hatoba.model.platforms import check_platform, goarch, parse_platform


def test_goarch_names() -> None:
    assert [goarch(m) for m in ("x86_64", "aarch64", "armv7l", "i686", "s390x")] == [
        "amd64",
        "arm64",
        "arm",
        "386",
        "s390x",
    ]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("linux/amd64", ("linux", "amd64", "")),
        ("linux", ("linux", "amd64", "")),
        ("arm64", ("linux", "arm64", "")),
        ("linux/x86_64", ("linux", "amd64", "")),
        ("linux/arm/v7", ("linux", "arm", "v7")),
        ("linux/armhf", ("linux", "arm", "v7")),
        ("Linux/AMD64", ("linux", "amd64", "")),
    ],
)
def test_platforms_are_read_as_containerd_reads_them(
    text: str, parsed: tuple[str, str, str]
) -> None:
    assert parse_platform(text, "x86_64") == parsed


@pytest.mark.parametrize("text", ["plan9/amd64", "linux/z80", "a/b/c/d", "banana"])
def test_unknown_platforms_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown operating system or architecture"):
        parse_platform(text, "x86_64")


def test_an_image_of_another_platform_is_not_found_for_it() -> None:
    check_platform("linux/amd64", "alpine", ("linux", "amd64", ""), "x86_64")
    check_platform("amd64", "alpine", ("linux", "amd64", ""), "x86_64")
    with pytest.raises(NotFound) as other:
        check_platform("linux/arm64", "alpine", ("linux", "amd64", ""), "x86_64")
    assert other.value.message == (
        "image with reference alpine was found but does not match the specified platform: "
        "wanted linux/arm64, actual: linux/amd64"
    )
