"""`hatoba capture` through the service: inside containers (hostfs and busybox alike, nothing
installed in them), on a network's bridge, on an interface of a chosen namespace; files that
tshark reads; Ctrl-C and -c; refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.busybox_images import busybox_images
from fixtures.image_sandbox import import_busybox
from hatoba.images.busybox import RootfsImage
from hatoba.testing import Sandbox

__all__ = ["busybox_images"]

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def sb(busybox_images: tuple[RootfsImage, RootfsImage]) -> Iterator[Sandbox]:
    with Sandbox() as sb:
        import_busybox(sb, busybox_images)
        sb.hatoba("network", "create", "sample")
        sb.hatoba("run", "-d", "--name", "box", "--net", "sample", "alpine:latest", "sleep", "1d")
        sb.hatoba("run", "-d", "--name", "fs", "--net", "sample", "hostfs", "sleep", "1d")
        yield sb


def address(sb: Sandbox, name: str) -> str:
    info = json.loads(sb.hatoba("inspect", name).stdout)[0]
    return str(info["NetworkSettings"]["Networks"]["sample"]["IPAddress"])


def start(sb: Sandbox, *args: str, **kw: Any) -> subprocess.Popen[str]:
    """`hatoba capture ARGS` in the background, once it listens."""
    proc = sb.popen(
        [*sb.hatoba_argv, "capture", *args],
        stdout=kw.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("listening on"), first + proc.stderr.read()
    return proc


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out, err


@pytest.mark.parametrize(("watched", "pinger"), [("box", "fs"), ("fs", "box")])
def test_lines_from_inside_a_container(sb: Sandbox, watched: str, pinger: str) -> None:
    me, peer = address(sb, watched), address(sb, pinger)
    proc = start(sb, "--container", watched, "-c", "2", "icmp")
    sb.hatoba("exec", pinger, "ping", "-c", "1", me)
    out, err = finish(proc)
    lines = out.splitlines()
    assert lines[0].startswith(f"IP {peer} > {me}: ICMP echo request, id ")
    assert lines[1].startswith(f"IP {me} > {peer}: ICMP echo reply, id ")
    assert err.splitlines()[-1] == "2 packets captured, 0 dropped by kernel"


def test_ctrl_c_on_a_bridge_writes_a_pcapng_with_its_name(sb: Sandbox) -> None:
    network = json.loads(sb.hatoba("network", "inspect", "sample").stdout)[0]
    bridge = f"br-{network['Id'][:12]}"
    path = sb.dir / "bridge.pcapng"
    proc = start(sb, "--network", "sample", "-w", str(path), "icmp")
    sb.hatoba("exec", "fs", "ping", "-c", "2", address(sb, "box"))
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert err.splitlines()[-1] == "4 packets captured, 0 dropped by kernel"
    rows = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "icmp.type",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert rows == [bridge, "8", bridge, "0", bridge, "8", bridge, "0"]


def test_pcap_to_stdout_for_a_pipe(sb: Sandbox) -> None:
    """`hatoba capture … -w - | tshark -r -`, on -i eth0 --netns (the long way to --container)."""
    pipe_out, pipe_in = os.pipe()
    reader = subprocess.Popen(
        ["tshark", "-r", "-", "-T", "fields", "-e", "ip.src", "-e", "ip.dst"],
        stdin=pipe_out,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    os.close(pipe_out)
    proc = start(sb, "-i", "eth0", "--netns", "box", "-c", "2", "-w", "-", "icmp", stdout=pipe_in)
    os.close(pipe_in)
    sb.hatoba("exec", "fs", "ping", "-c", "1", address(sb, "box"))
    finish(proc)
    out, _ = reader.communicate(timeout=30)
    box, fs = address(sb, "box"), address(sb, "fs")
    assert out.split() == [fs, box, box, fs]


def test_refusals(sb: Sandbox) -> None:
    result = sb.hatoba("capture", "--container", "nobody", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "Error response from daemon: No such container: nobody",
    )
    result = sb.hatoba("capture", "--container", "box", "tcp", "prot", "80", check=False)
    assert result.returncode == 1
    assert 'invalid capture filter "tcp prot 80"' in result.stderr
    result = sb.hatoba("capture", "--container", "box", "-i", "eth7", check=False)
    assert "no such interface: eth7" in result.stderr
    result = sb.hatoba("capture", "--network", "host", check=False)
    assert "network host has no bridge to capture on" in result.stderr
