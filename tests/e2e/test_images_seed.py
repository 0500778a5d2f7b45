"""The seed walkthrough on the default bridge, with the busybox `alpine` and `httpd` images:
addresses and MACs as Docker gives them, containers reaching each other, and httpd serving on
its address and on a published port (from outside, with the client's address preserved)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import fetch, import_busybox
from hatoba.images.busybox import INDEX_HTML, RootfsImage
from hatoba.testing import Sandbox
from hatoba.testing.sandbox import CLIENT, HOST_UPLINK

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root


@pytest.fixture
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox(with_outside=True) as sb:
        import_busybox(sb, busybox_images)
        yield sb


def eth0(sb: Sandbox, name: str) -> tuple[str, str]:
    out = sb.hatoba("exec", name, "ifconfig").stdout
    block = out.split("\n\n")[0]
    assert block.startswith("eth0 ")
    mac = re.search(r"HWaddr (\S+)", block)
    inet = re.search(r"inet addr:(\S+)", block)
    assert mac and inet, out
    return mac[1], inet[1]


def test_seed_walkthrough(sb: Sandbox) -> None:
    sb.hatoba("run", "-itd", "--name", "alpine-sample1", "alpine:latest")
    assert eth0(sb, "alpine-sample1") == ("02:42:AC:11:00:02", "172.17.0.2")
    sb.hatoba("run", "-itd", "--name", "alpine-sample2", "alpine:latest")
    assert eth0(sb, "alpine-sample2") == ("02:42:AC:11:00:03", "172.17.0.3")
    for source, target in (("alpine-sample1", "172.17.0.3"), ("alpine-sample2", "172.17.0.2")):
        ping = sb.hatoba("exec", source, "ping", "-c", "1", "-W", "2", target).stdout
        assert "1 packets transmitted, 1 packets received, 0% packet loss" in ping

    sb.hatoba("run", "-d", "-p", "8000:80", "--name", "httpd-sample", "httpd")
    _, address = eth0(sb, "httpd-sample")
    assert address == "172.17.0.4"
    page = INDEX_HTML.decode()
    assert fetch(sb, f"http://{address}/") == page
    # published: from the outside client to the host's address, and from the host itself
    assert fetch(sb, f"http://{HOST_UPLINK}:8000/", ns=sb.outside) == page
    assert fetch(sb, "http://127.0.0.1:8000/") == page
    # busybox httpd -v logs each request with the client address it saw
    log = sb.hatoba("logs", "httpd-sample").stderr
    assert "[::ffff:172.17.0.1]" in log and f"[::ffff:{CLIENT}]" in log
    assert log.count("response:200") == 3
