"""What Docker 20.10 answers a client of an older API version (/v1.12/ to /v1.40/)
differently, and the conversions too long for a line in their route.

A route asks `req.older_than("1.xx")` where Docker's answer differs (Docker's own version
bounds); what takes more than a line is here. The table of every such branch, with
hatoba's status: docs/architecture.md, "API versions".
"""

from __future__ import annotations

from typing import Any

from hatoba.api.http import Request
from hatoba.api.json_body import Json

_NETWORK_COUNTERS = (
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
)


def _set(doc: Any, key: str, kind: type, value: Any) -> None:
    """Docker changes these fields after its decoder has read them: a value of the wrong type
    is left for the request reader to refuse."""
    if isinstance(doc, dict) and isinstance(doc.get(key), kind):
        doc[key] = value


def adapt_create(req: Request, body: Json) -> None:
    """A create body as Docker 20.10 reads it from an older client, changed in place."""
    host = body.value.get("HostConfig") if isinstance(body.value, dict) else None
    if not isinstance(host, dict):
        return
    if req.older_than("1.25"):
        # such clients remove their containers themselves
        _set(host, "AutoRemove", bool, False)
    if req.older_than("1.40"):
        _set(host, "KernelMemoryTCP", int, 0)
        mounts = host.get("Mounts")
        for mount in mounts if isinstance(mounts, list) else ():
            if isinstance(mount, dict):
                _set(mount.get("BindOptions"), "NonRecursive", bool, False)


def adapt_update(req: Request, body: Json) -> None:
    """An update body from a client before 1.40: its PidsLimit is not read."""
    if req.older_than("1.40") and isinstance(body.value, dict):
        body.value.pop("PidsLimit", None)


def takes_size(req: Request) -> bool:
    """Whether an inspect answers the `size` asked for: the shapes before 1.21 have none."""
    return req.flag("size") and not req.older_than("1.21")


def inspect_document(req: Request, doc: dict[str, Any]) -> dict[str, Any]:
    """A container's inspect document in the shape of the version asked for (Docker's
    ContainerJSON, v1p20.ContainerJSON for 1.20, v1p19.ContainerJSON before)."""
    if not req.older_than("1.21"):
        return doc
    host = doc["HostConfig"]
    # these always appear in the old shapes (not omitted when empty)
    config = {
        **doc["Config"],
        "MacAddress": doc["Config"].get("MacAddress", ""),
        "NetworkDisabled": False,
        "VolumeDriver": host["VolumeDriver"],
    }
    network_settings = {k: v for k, v in doc["NetworkSettings"].items() if k != "Networks"}
    shaped = {**doc, "Config": config, "NetworkSettings": network_settings}
    if req.older_than("1.20"):
        config.update(
            Memory=host["Memory"],
            MemorySwap=host["MemorySwap"],
            CpuShares=host["CpuShares"],
            Cpuset=host.get("CpusetCpus", ""),
        )
        mounts = shaped.pop("Mounts")
        shaped["Volumes"] = {m["Destination"]: m["Source"] for m in mounts}
        shaped["VolumesRW"] = {m["Destination"]: m["RW"] for m in mounts}
    return shaped


def stats_document(req: Request, doc: dict[str, Any]) -> dict[str, Any]:
    """A stats sample as a client before 1.21 reads it (v1p20.StatsJSON): every interface's
    counters summed in `network`, and no name or id."""
    if not req.older_than("1.21"):
        return doc
    links = doc.get("networks", {}).values()
    shaped = {k: v for k, v in doc.items() if k not in ("name", "id", "networks")}
    shaped["network"] = {key: sum(link[key] for link in links) for key in _NETWORK_COUNTERS}
    return shaped


def info_host(req: Request, doc: dict[str, Any]) -> dict[str, Any]:
    """/info's keys about the host (`host_facts.host_info`) as an older client reads them."""
    if req.older_than("1.39"):
        for key in ("KernelVersion", "OperatingSystem"):
            doc[key] = doc[key] or "<unknown>"
    if req.older_than("1.25"):
        doc["ExecutionDriver"] = "<not supported>"
    return doc
