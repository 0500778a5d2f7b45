"""`hatoba network topology` of a known setup in a sandbox: the tree exactly (the kernel's
names and MACs read back with `ip`), the picture well-formed with every container, and the
`--watch` page following a container that comes and goes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.image_sandbox import fetch
from hatoba.testing import Sandbox

pytestmark = pytest.mark.root

EXPECTED = """\
host: uplink eth0 203.0.113.1/24, mac {eth0}, mtu 1500, default via 203.0.113.254
├── published 0.0.0.0:8080/tcp → web 172.18.0.2:80
├── network bridge (bridge): hatoba0 172.17.0.1/16, mac {hatoba0}
│   └── {legacy@hatoba0} ⇄ legacy eth0 172.17.0.2/16, mac 02:42:ac:11:00:02
├── network back (bridge, internal): {back} 172.19.0.1/16, mac {back_mac}
│   └── {db@back} ⇄ db eth1 172.19.0.2/16, mac 02:42:ac:13:00:02
│       └── dns: db, {db_id}
├── network sample (bridge): {sample} 172.18.0.1/16, mac {sample_mac}
│   ├── {db@sample} ⇄ db eth0 172.18.0.3/16, mac 02:42:ac:12:00:03
│   │   └── dns: db, {db_id}
│   ├── {web@sample} ⇄ web eth0 172.18.0.2/16, mac 02:42:ac:12:00:02
│   │   ├── dns: web, www, {web_id}
│   │   └── shared with: side
│   └── old (created)
├── network host (host): the host's own stack
│   └── mon
└── network none (null): loopback only
    └── iso
"""
CONTAINERS = ["legacy", "web", "db", "side", "old", "mon", "iso"]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(with_outside=True) as sb:
        sb.hatoba("network", "create", "sample")
        sb.hatoba("network", "create", "--internal", "back")
        run = ("run", "-d", "--name")
        sb.hatoba(*run, "legacy", "hostfs", "sleep", "1d")
        sb.hatoba(*run, "web", "--net", "sample", "--network-alias", "www", "-p", "8080:80",
                  "hostfs", "sleep", "1d")  # fmt: skip
        sb.hatoba(*run, "db", "--net", "sample", "hostfs", "sleep", "1d")
        sb.hatoba("network", "connect", "back", "db")
        sb.hatoba(*run, "side", "--net", "container:web", "hostfs", "sleep", "1d")
        sb.hatoba(*run, "mon", "--net", "host", "hostfs", "sleep", "1d")
        sb.hatoba(*run, "iso", "--net", "none", "hostfs", "sleep", "1d")
        sb.hatoba("create", "--name", "old", "--net", "sample", "hostfs", "true")
        yield sb


def links(sb: Sandbox) -> list[dict[str, Any]]:
    return list(json.loads(sb.sh(["ip", "-j", "link", "show"]).stdout))


def kernel_facts(sb: Sandbox) -> dict[str, str]:
    """What the expected tree takes from the kernel and the records: ids, bridge names, MACs,
    and each veth by `container@bridge`."""
    found = {link["ifname"]: link for link in links(sb)}
    facts = {"eth0": found["eth0"]["address"], "hatoba0": found["hatoba0"]["address"]}
    for name in ("sample", "back"):
        bridge = json.loads(sb.hatoba("network", "inspect", name).stdout)[0]["Id"][:12]
        facts[name] = f"br-{bridge}"
        facts[f"{name}_mac"] = found[f"br-{bridge}"]["address"]
    for name in ("web", "db", "legacy"):
        cid = json.loads(sb.hatoba("inspect", name).stdout)[0]["Id"]
        facts[f"{name}_id"] = cid[:12]
        for link in found.values():
            if link.get("ifalias") == f"hatoba:{cid}":
                facts[f"{name}@{link['master']}"] = link["ifname"]
    return {
        key.replace(facts["sample"], "sample").replace(facts["back"], "back"): value
        for key, value in facts.items()
    }


def test_the_tree_of_a_known_setup_is_exact(sb: Sandbox) -> None:
    tree = sb.hatoba("network", "topology").stdout
    assert tree == EXPECTED.format(**kernel_facts(sb))
    doc = json.loads(sb.hatoba("network", "topology", "--format", "json").stdout)
    assert doc["uplink"]["gateway"] == "203.0.113.254"


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_the_picture_is_well_formed_with_every_container(sb: Sandbox) -> None:
    root = ET.fromstring(sb.hatoba("network", "topology", "--format", "svg").stdout.encode())
    words = {
        w for t in root.iter("{http://www.w3.org/2000/svg}text") for w in (t.text or "").split()
    }
    assert set(CONTAINERS) <= words
    page = sb.hatoba("network", "topology", "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_the_watch_page_follows_containers_as_they_come_and_go(sb: Sandbox) -> None:
    watcher = sb.popen(
        [*sb.hatoba_argv, "network", "topology", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()
        found = re.match(r"Serving the topology on (http://127\.0\.0\.1:\d+/) ", first)
        assert found, first + (watcher.stderr.read() if watcher.stderr else "")
        url = found[1]
        page = fetch(sb, url)
        assert "new EventSource(" in page and "mon" in page
        sb.hatoba("run", "-d", "--name", "late", "--net", "sample", "hostfs", "sleep", "1d")
        assert "late" in eventually(sb, url + "fragment", lambda body: "late" in body)
        # the page's event stream says a new drawing is there
        events = sb.sh(["busybox", "timeout", "2", "busybox", "wget", "-qO-", url + "events"],
                       check=False).stdout  # fmt: skip
        assert events.startswith("event: topology\ndata: ")
        sb.hatoba("rm", "-f", "late")
        eventually(sb, url + "topology.json", lambda body: "late" not in body)
    finally:
        watcher.terminate()
        watcher.communicate(timeout=10)


def eventually(sb: Sandbox, url: str, done: Any) -> str:
    """The page at `url` once `done(body)`; a drawing follows an event by well under 5 s."""
    deadline = time.monotonic() + 10
    while True:
        body = fetch(sb, url)
        if done(body) or time.monotonic() > deadline:
            assert done(body), body
            return body
        time.sleep(0.1)
