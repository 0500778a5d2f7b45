"""`hatoba network topology` against a fake service: the tree, JSON, the picture and the page
from the one answer of GET /hatoba/topology, and a format it does not know."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from fakeapi import FakeApi, json_reply

from fixtures.topology_world import CONTAINERS, DNS_NAMES, HOST_VIEW, NETWORKS
from hatoba.observe import topology_draw as draw
from hatoba.observe.topology import Topology
from hatoba.observe.topology_build import build

KNOWN = build(NETWORKS, CONTAINERS, DNS_NAMES, HOST_VIEW)


@pytest.fixture
def served(api: FakeApi) -> FakeApi:
    api.route("GET", "/hatoba/topology", json_reply(KNOWN.to_json()))
    return api


def test_text_and_json(
    served: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    assert hatoba("network", "topology") == 0
    assert capfd.readouterr().out == draw.text(KNOWN)
    assert hatoba("network", "topology", "--format", "json") == 0
    assert Topology.from_json(json.loads(capfd.readouterr().out)) == KNOWN


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_picture_and_page(
    served: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    assert hatoba("network", "topology", "--format", "svg") == 0
    root = ET.fromstring(capfd.readouterr().out.encode())
    assert root.tag.endswith("svg")
    assert hatoba("network", "topology", "--format", "html") == 0
    page = capfd.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "EventSource" not in page


def test_unknown_format(
    served: FakeApi, hatoba: Callable[..., int], capfd: pytest.CaptureFixture[str]
) -> None:
    assert hatoba("network", "topology", "--format", "png") == 125
    assert 'invalid argument "png" for "--format" flag' in capfd.readouterr().err
    assert served.calls() == []
