"""Whatever a client sends, the API answers it: 4xx for bad input (never 500, never a silent
close of a readable request), nothing changes on an error, and the server stays up.

Requests are aimed at the real routes of the real application (`served_world.py`): their methods
and patterns with ids of objects that exist or not, `/v1.xx/` prefixes, query strings (filters
with bad JSON), headers, and bodies shaped like the route's Docker JSON with fields of the
wrong type, or any JSON at all (huge ints, deep nesting). Object references are symbolic
(`@@db.id@@`) and resolved against the world when sent, so an example means the same thing in
every world; the world is rebuilt whenever a request changed it.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from served_world import Reply, ServedWorld, exchange

from fixtures.fuzzing import budget, fuzz, mutated
from hatoba.api.http import Request, Response, Router
from hatoba.api.routes_absent import SWARM_ROUTES

pytestmark = fuzz

# --- what is sent -------------------------------------------------------------------------------

# every route the application serves (test_every_route_is_fuzzed keeps this list complete)
ROUTES = [
    ("GET", "/_ping"),
    ("GET", "/events"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("POST", "/hatoba/system/reset"),
    ("POST", "/hatoba/system/firewall-reload"),
    ("POST", "/hatoba/containers/create"),
    ("POST", "/hatoba/containers/start"),
    ("POST", "/hatoba/containers/stop"),
    ("POST", "/hatoba/containers/remove"),
    ("POST", "/hatoba/containers/run"),
    ("GET", "/networks"),
    ("POST", "/networks/create"),
    ("POST", "/networks/prune"),
    ("GET", "/networks/{id*}"),
    ("DELETE", "/networks/{id*}"),
    ("POST", "/networks/{id*}/connect"),
    ("POST", "/networks/{id*}/disconnect"),
    ("POST", "/containers/create"),
    ("GET", "/containers/json"),
    ("GET", "/containers/{id}/json"),
    ("POST", "/containers/{id}/start"),
    ("POST", "/containers/{id}/stop"),
    ("POST", "/containers/{id}/restart"),
    ("POST", "/containers/{id}/kill"),
    ("POST", "/containers/{id}/wait"),
    ("DELETE", "/containers/{id*}"),
    ("POST", "/containers/{id}/rename"),
    ("GET", "/containers/{id}/logs"),
    ("POST", "/containers/{id}/attach"),
    ("POST", "/containers/{id}/resize"),
    ("GET", "/containers/{id}/stats"),
    ("GET", "/containers/{id}/top"),
    ("POST", "/containers/{id}/pause"),
    ("POST", "/containers/{id}/unpause"),
    ("POST", "/containers/{id}/update"),
    ("POST", "/containers/{id}/exec"),
    ("POST", "/exec/{id}/start"),
    ("GET", "/exec/{id}/json"),
    ("POST", "/exec/{id}/resize"),
    ("GET", "/images/json"),
    ("POST", "/images/create"),
    ("POST", "/images/load"),
    ("GET", "/images/get"),
    ("GET", "/images/{name*}/get"),
    ("GET", "/images/{name*}/json"),
    ("POST", "/images/{name*}/tag"),
    ("DELETE", "/images/{name*}"),
    ("POST", "/images/prune"),
    ("GET", "/volumes"),
    ("POST", "/volumes/create"),
    ("POST", "/volumes/prune"),
    ("GET", "/volumes/{name}"),
    ("DELETE", "/volumes/{name}"),
    ("POST", "/containers/prune"),
    ("HEAD", "/containers/{id}/archive"),
    ("GET", "/containers/{id}/archive"),
    ("PUT", "/containers/{id}/archive"),
    ("POST", "/containers/{id}/copy"),
    ("GET", "/containers/{id}/export"),
    ("GET", "/containers/{id}/changes"),
    ("POST", "/commit"),
    ("GET", "/system/df"),
    ("POST", "/build/prune"),
    ("GET", "/hatoba/topology"),
    ("POST", "/build"),
    ("GET", "/distribution/{name*}/json"),
]

# capture, trace and explain need the kernel's packet instruments, which this world has not
# (their tests: test_api_tracing.py and the observe e2e tests)
NOT_FUZZED = [
    ("POST", "/hatoba/capture"),
    ("POST", "/hatoba/trace"),
    ("POST", "/hatoba/explain"),
    # a non-swarm Docker answers every swarm request 503, whatever it holds
    # (test_api_system_surface.py)
    *SWARM_ROUTES,
]

OBJECTS = ["web", "db", "front", "back", "bridge", "host", "none", "image", "exec", "data"]

# the Docker JSON of each route's body: field -> kind, a nested object, or [a list of objects]
ENDPOINT = {
    "Aliases": "strings",
    "IPAMConfig": {"IPv4Address": "ip"},
    "Links": "strings",
    "MacAddress": "string",
}
LIMITS = dict.fromkeys(
    ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota", "PidsLimit"), "int"
)
BODIES: dict[str, dict[str, Any]] = {
    "/networks/create": {
        "Name": "name",
        "Driver": "driver",
        "Internal": "bool",
        "EnableIPv6": "bool",
        "Attachable": "bool",
        "CheckDuplicate": "bool",
        "Labels": "labels",
        "Options": "labels",
        "IPAM": {
            "Driver": "string",
            "Config": [
                {
                    "Subnet": "cidr",
                    "Gateway": "ip",
                    "IPRange": "cidr",
                    "AuxiliaryAddresses": "labels",
                }
            ],
        },
    },
    "/networks/{id*}/connect": {"Container": "object", "EndpointConfig": ENDPOINT},
    "/networks/{id*}/disconnect": {"Container": "object", "Force": "bool"},
    "/containers/create": {
        "Image": "image",
        "Cmd": "strings",
        "Entrypoint": "strings",
        "Env": "env",
        "WorkingDir": "string",
        "Hostname": "name",
        "Domainname": "name",
        "Tty": "bool",
        "OpenStdin": "bool",
        "StdinOnce": "bool",
        "Labels": "labels",
        "ExposedPorts": "exposed",
        "StopSignal": "signal",
        "StopTimeout": "int",
        "User": "string",
        "MacAddress": "string",
        "Healthcheck": {
            "Test": "strings",
            "Interval": "int",
            "Timeout": "int",
            "StartPeriod": "int",
            "Retries": "int",
        },
        "HostConfig": {
            "NetworkMode": "network_mode",
            "Dns": "ips",
            "DnsSearch": "strings",
            "DnsOptions": "strings",
            "ExtraHosts": "extra_hosts",
            "AutoRemove": "bool",
            "PortBindings": "bindings",
            "PublishAllPorts": "bool",
            "GroupAdd": "strings",
            "Init": "bool",
            "RestartPolicy": {"Name": "restart", "MaximumRetryCount": "int"},
            "Binds": "binds",
            "Tmpfs": "labels",
            "VolumesFrom": "strings",
            "Mounts": [
                {
                    "Type": "mount_type",
                    "Source": "string",
                    "Target": "path",
                    "ReadOnly": "bool",
                    "BindOptions": {"Propagation": "string", "NonRecursive": "bool"},
                    "VolumeOptions": {"NoCopy": "bool", "Labels": "labels"},
                    "TmpfsOptions": {"SizeBytes": "int", "Mode": "int"},
                }
            ],
            "CapAdd": "strings",
            "CapDrop": "strings",
            "Privileged": "bool",
            "SecurityOpt": "strings",
            "ReadonlyRootfs": "bool",
            "Sysctls": "labels",
            "Devices": [
                {"PathOnHost": "string", "PathInContainer": "string", "CgroupPermissions": "string"}
            ],
            "DeviceCgroupRules": "strings",
            "MaskedPaths": "strings",
            "ReadonlyPaths": "strings",
            "OomScoreAdj": "int",
            "ShmSize": "int",
            "Ulimits": [{"Name": "string", "Soft": "int", "Hard": "int"}],
            **LIMITS,
        },
        "Volumes": "exposed",
        "NetworkingConfig": {"EndpointsConfig": "endpoints"},
    },
    "/containers/{id}/update": {
        **LIMITS,
        "RestartPolicy": {"Name": "restart", "MaximumRetryCount": "int"},
    },
    "/containers/{id}/exec": {
        "Cmd": "strings",
        "Env": "env",
        "WorkingDir": "string",
        "User": "string",
        "Tty": "bool",
        "AttachStdin": "bool",
        "AttachStdout": "bool",
        "AttachStderr": "bool",
    },
    "/exec/{id}/start": {"Detach": "bool", "Tty": "bool"},
    "/volumes/create": {
        "Name": "name",
        "Driver": "string",
        "Labels": "labels",
        "DriverOpts": "labels",
    },
    "/commit": {"Cmd": "strings", "Env": "env", "Labels": "labels", "Volumes": "exposed"},
    "/hatoba/containers/start": {"Ids": "objects"},
    "/hatoba/containers/stop": {"Ids": "objects", "Timeout": "int"},
    "/hatoba/containers/remove": {"Ids": "objects", "Force": "bool"},
}
BODIES["/containers/{id}/copy"] = {"Resource": "path"}
BODIES["/hatoba/containers/run"] = BODIES["/containers/create"]
BODIES["/hatoba/containers/create"] = {
    "Containers": [{"Name": "name", "Config": BODIES["/containers/create"]}]
}

# fields without which a request fails early: always sent, so the others are reached
REQUIRED = {"Image", "Name", "Cmd", "Container", "Containers", "Config", "Ids"}

QUERY_KINDS = {
    "filters": "filters",
    "all": "flag",
    "force": "flag",
    "follow": "flag",
    "stdout": "flag",
    "stderr": "flag",
    "stdin": "flag",
    "stream": "flag",
    "timestamps": "flag",
    "limit": "number",
    "t": "number",
    "h": "number",
    "w": "number",
    "tail": "number",
    "signal": "signal",
    "condition": "condition",
    "name": "name",
    "fromImage": "string",
    "fromSrc": "string",
    "repo": "name",
    "tag": "name",
    "changes": "string",
    "since": "time",
    "until": "time",
    "message": "string",
    "names": "object",
    "path": "path",
    "noOverwriteDirNonDir": "flag",
    "copyUIDGID": "flag",
    "container": "object",
    "author": "string",
    "comment": "string",
    "pause": "flag",
    "v": "flag",
    "one-shot": "flag",
    "ps_args": "string",
}

huge_ints = st.sampled_from([2**31, 2**63, -(2**63) - 1, 2**64, 10**30, -1, 0])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 70000)
    | huge_ints
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
any_json = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
texts = st.text(max_size=16) | st.text(st.characters(codec="ascii"), max_size=16)
forms = st.sampled_from(["", ".id", ".short", ".prefix"])
refs = st.builds("@@{}{}@@".format, st.sampled_from(OBJECTS), forms)
names = refs | st.sampled_from(["x", "new-net", "a" * 300, "-bad", "web", "bridge"]) | texts
ips = st.sampled_from(["172.18.0.9", "172.30.0.1", "10.0.0.300", "::1", "", "0.0.0.0"]) | texts
cidrs = st.sampled_from(["172.30.0.0/16", "172.30.0.0/33", "10.0.0.0/8", "1.2.3.4", "::/0"]) | texts
ports = st.sampled_from(["80", "80/tcp", "53/udp", "70000/tcp", "0/tcp", "80-90/tcp", "x/y", "/"])
host_ports = st.sampled_from(["", "8080", "0", "65536", "1000-999", "a", "-1"]) | texts
paths_inside = st.sampled_from(["/", "/etc", "/etc/", "/etc/.", "x", "", "/../.."]) | texts
signals = st.sampled_from(["SIGTERM", "KILL", "9", "0", "65", "99999", "2147483648", "HUP"]) | texts


def kind_values(kind: str) -> st.SearchStrategy[Any]:
    """Plausible values of a field (valid or nearly so): the harder ones for a parser."""
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "string": texts,
        "name": names,
        "object": refs | texts,
        "objects": st.lists(refs | texts, max_size=3),
        "image": st.sampled_from(["alpine", "alpine:latest", "hostfs", "nope:1", ""]) | refs,
        "driver": st.sampled_from(["bridge", "bridge", "host", "null", "macvlan", ""]) | texts,
        "network_mode": st.sampled_from(["default", "bridge", "host", "none", "container:db"])
        | refs,
        "bool": st.booleans(),
        "int": st.integers(-5, 100) | huge_ints,
        "strings": st.lists(texts, max_size=3) | texts,
        "env": st.lists(st.sampled_from(["A=1", "B", "=x", ""]) | texts, max_size=3),
        "ips": st.lists(ips, max_size=2),
        "extra_hosts": st.lists(st.sampled_from(["h:1.2.3.4", "h", "h:host-gateway"]), max_size=2),
        "path": paths_inside,
        "binds": st.lists(
            st.sampled_from(["/srv:/x", "data:/d:ro", "/anon", "/x:y", "a@b:/c", "/:/"]) | texts,
            max_size=2,
        ),
        "mount_type": st.sampled_from(["bind", "volume", "tmpfs", "nfs", ""]),
        "labels": st.dictionaries(texts, texts, max_size=2),
        "ip": ips,
        "cidr": cidrs,
        "signal": signals,
        "restart": st.sampled_from(["", "no", "always", "on-failure", "unless-stopped", "x"]),
        "exposed": st.dictionaries(ports, st.just({}), max_size=2),
        "bindings": st.dictionaries(
            ports,
            st.none()
            | st.lists(
                st.fixed_dictionaries({}, optional={"HostIp": ips, "HostPort": host_ports}),
                max_size=2,
            ),
            max_size=2,
        ),
        "endpoints": st.dictionaries(
            refs | texts, st.none() | st.deferred(lambda: shaped(ENDPOINT)), max_size=2
        ),
    }
    return strategies[kind]


def shaped(template: Any) -> st.SearchStrategy[Any]:
    """A value of this shape, some of its fields of another type (or any JSON) instead."""
    if isinstance(template, str):
        plausible = kind_values(template)
    elif isinstance(template, list):
        plausible = st.lists(shaped(template[0]), max_size=2)
    else:
        plausible = st.fixed_dictionaries(
            {key: shaped(sub) for key, sub in template.items() if key in REQUIRED},
            optional={key: shaped(sub) for key, sub in template.items() if key not in REQUIRED},
        )
    return st.one_of(*[plausible] * 9, any_json)


def nested(depth: int) -> bytes:
    return b'{"Labels":' * depth + b"1" + b"}" * depth


bodies_any = (
    any_json.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 200_000).map(nested)
    | st.sampled_from([b"", b"{", b"null", b"NaN", b"1" * 5000, b'{"Image": "\xff"}', b"\xff\xfe"])
    | st.binary(max_size=64)
)


def query_value(kind: str) -> st.SearchStrategy[str]:
    strategies: dict[str, st.SearchStrategy[str]] = {
        "flag": st.sampled_from(["1", "true", "0", "", "yes", "maybe"]),
        "number": st.sampled_from(["0", "-1", "10", "1.5", "", "x", "9" * 30, "-9" * 20]) | texts,
        "signal": signals,
        "condition": st.sampled_from(["not-running", "next-exit", "removed", "later"]) | texts,
        "time": st.sampled_from(
            ["0", "1700000000", "1700000000.5", "2024-01-01T00:00:00Z", "-1", "9" * 30, "1e400"]
        )
        | texts,
        "name": names,
        "string": texts,
        "path": paths_inside,
        "object": refs,
        "filters": any_json.map(json.dumps)
        | st.dictionaries(
            st.sampled_from(["name", "id", "label", "driver", "type", "status", "network"]) | texts,
            st.lists(texts | refs, max_size=2)
            | st.dictionaries(texts | refs, st.booleans(), max_size=2)
            | scalars,
            max_size=2,
        ).map(json.dumps)
        | st.sampled_from(["{", "[1]", "null", '{"name": null}', '{"label": [1]}', "NaN"]),
    }
    return strategies[kind]


# the arguments each route reads, drawn more often for it than the others
ROUTE_QUERIES = {
    "/events": ["since", "until", "filters"],
    "/networks": ["filters"],
    "/networks/prune": ["filters"],
    "/containers/json": ["all", "limit", "filters"],
    "/containers/create": ["name"],
    "/containers/{id}/stop": ["t"],
    "/containers/{id}/restart": ["t"],
    "/containers/{id}/kill": ["signal"],
    "/containers/{id}/wait": ["condition"],
    "/containers/{id*}": ["force", "v", "link"],
    "/containers/{id}/rename": ["name"],
    "/containers/{id}/logs": ["follow", "tail", "timestamps", "stdout", "stderr"],
    "/containers/{id}/attach": ["stream", "stdin", "stdout", "stderr"],
    "/containers/{id}/resize": ["h", "w"],
    "/containers/{id}/stats": ["stream", "one-shot"],
    "/containers/{id}/top": ["ps_args"],
    "/exec/{id}/resize": ["h", "w"],
    "/images/json": ["filters", "all"],
    "/images/create": ["fromImage", "fromSrc", "repo", "tag", "changes", "message"],
    "/images/get": ["names"],
    "/images/{name*}/tag": ["repo", "tag"],
    "/images/{name*}": ["force"],
    "/images/prune": ["filters"],
    "/volumes": ["filters"],
    "/volumes/prune": ["filters"],
    "/volumes/{name}": ["force"],
    "/containers/prune": ["filters"],
    "/containers/{id}/archive": ["path", "noOverwriteDirNonDir", "copyUIDGID"],
    "/commit": ["container", "repo", "tag", "changes", "author", "comment", "pause"],
}


@st.composite
def queries(draw: st.DrawFn, route: str) -> str:
    own = st.sampled_from(ROUTE_QUERIES.get(route, ["filters"]))
    keys = draw(st.lists(own | own | st.sampled_from(sorted(QUERY_KINDS)) | texts, max_size=4))
    parts = []
    for key in keys:
        value = draw(query_value(QUERY_KINDS.get(key, "string")))
        safe = draw(st.sampled_from(["", "@", "%[]{}:,"]))
        parts.append(f"{quote(key, safe='')}={quote(value, safe=safe)}")
    return "&".join(parts)


@st.composite
def paths(draw: st.DrawFn, pattern: str) -> str:
    owners = {
        "containers": ["web", "db"],
        "images": ["image"],
        "exec": ["exec"],
        "volumes": ["data"],
    }
    own = owners.get(pattern.split("/")[1], ["front", "back", "bridge", "host", "none"])

    def param() -> str:
        if draw(st.integers(0, 3)):
            return draw(st.builds("@@{}{}@@".format, st.sampled_from(own), forms) | refs)
        return draw(
            st.builds(quote, texts.filter(bool), st.sampled_from(["", "/", ":@", "%"]))
            | st.sampled_from(["..", "%2e%2e", "%00", "a%2Fb", "%zz", "alpine:latest"])
        )

    path = pattern.replace("{id}", param()).replace("{id*}", param()).replace("{name*}", param())
    if draw(st.integers(0, 9)):
        if pattern == "/containers/{id}/wait":
            # before API 1.30 a wait answers nothing at all until the container exits, as
            # Docker's did (test_api_versions.py)
            return draw(st.sampled_from(["", "/v1.41", "/v1.30"])) + path
        return draw(st.sampled_from(["", "/v1.41", "/v1.24", "/v1.19"])) + path
    return draw(st.sampled_from(["/v9.99", "/v1", "/vX", "/v1.41/v1.41", "//"])) + path


@dataclass
class Call:
    route: str  # the pattern aimed at
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[int] | None  # chunked framing with these chunk sizes; else Content-Length

    def raw(self, names: dict[str, str]) -> bytes:
        def resolve(data: bytes) -> bytes:
            for name, ident in names.items():
                plain = "alpine:latest" if name == "image" else name
                short = ident.removeprefix("sha256:")[:12]
                for form, value in (
                    ("", plain),
                    (".id", ident),
                    (".short", short),
                    (".prefix", short[:4]),
                ):
                    data = data.replace(f"@@{name}{form}@@".encode(), value.encode())
            return data

        body = resolve(self.body)
        head = [b"%s %s HTTP/1.1" % (self.method.encode(), resolve(self.target.encode()))]
        head += [b"%s: %s" % header for header in self.headers]
        if self.chunks is None:
            head.append(b"Content-Length: %d" % len(body))
            framed = body
        else:
            head.append(b"Transfer-Encoding: chunked")
            framed = b""
            rest = body
            for size in self.chunks:
                piece, rest = rest[:size], rest[size:]
                if piece:
                    framed += b"%x\r\n%s\r\n" % (len(piece), piece)
            if rest:
                framed += b"%x\r\n%s\r\n" % (len(rest), rest)
            framed += b"0\r\n\r\n"
        return b"\r\n".join(head) + b"\r\n\r\n" + framed


header_values = st.binary(max_size=20).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F).strip()
)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    route_method, pattern = draw(st.sampled_from(ROUTES))
    method = route_method
    if not draw(st.integers(0, 9)):
        method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "X"]))
    target = draw(paths(pattern))
    query = draw(queries(pattern))
    if query:
        target += "?" + query
    template = BODIES.get(pattern)
    if template is not None and draw(st.integers(0, 3)):
        body = json.dumps(draw(shaped(template))).encode()
    else:
        body = draw(bodies_any | st.just(b""))
    headers = [(b"Host", b"localhost")]
    if draw(st.booleans()):
        content_type = draw(st.sampled_from([b"application/json", b"text/plain", b"x/y"]))
        headers.append((b"Content-Type", content_type))
    if draw(st.integers(0, 5)) == 0:
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", b"tcp")]
    extra = st.tuples(
        st.sampled_from([b"X-Any", b"User-Agent", b"Accept", b"X-Registry-Auth"]), header_values
    )
    headers += draw(st.lists(extra, max_size=2))
    chunks = draw(st.none() | st.lists(st.integers(1, 64), max_size=4))
    return Call(pattern, method, target, headers, body, chunks)


# --- the world ----------------------------------------------------------------------------------


class Worlds(logging.Handler):
    """One world at a time, rebuilt after a request that may have changed it; and what the
    service logged as an error meanwhile (an exception in a route is a bug even when the
    client got an answer, e.g. a stream that failed after its head)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(logging.ERROR)
        self._directory = directory
        self._count = 0
        self.world: ServedWorld | None = None
        self.names: dict[str, str] = {}
        self.baseline: Any = None
        self.errors: list[str] = []
        logging.getLogger("hatoba").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(self.format(record))

    def current(self) -> ServedWorld:
        if self.world is None:
            self._count += 1
            path = self._directory / str(self._count)
            path.mkdir()
            self.world = ServedWorld(path).__enter__()
            self.names = self.world.names()
            self.baseline = self.world.snapshot()
        return self.world

    def discard(self) -> None:
        if self.world is not None:
            self.world.__exit__(None, None, None)
            self.world = None

    def close(self) -> None:
        logging.getLogger("hatoba").removeHandler(self)
        self.discard()
        super().close()


@pytest.fixture(scope="module")
def worlds() -> Iterator[Worlds]:
    with tempfile.TemporaryDirectory(prefix="hatoba-apifuzz-") as directory:
        pool = Worlds(Path(directory))
        try:
            yield pool
        finally:
            pool.close()


def ping(world: ServedWorld) -> int:
    reply = exchange(world.socket, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
    assert reply is not None, "the server no longer answers"
    return reply.status


def check(worlds: Worlds, raw: bytes, method: str, *, framed: bool) -> Reply | None:
    world = worlds.current()
    worlds.errors.clear()
    reply = exchange(world.socket, raw, method, half_close=not framed)
    if framed:
        assert reply is not None, "a readable request got no answer"
    if reply is not None:
        # 501 is HTTP's answer to a transfer coding it does not know (Go's server's too)
        assert reply.status < 500 or (reply.status == 501 and not framed), reply
        if reply.status >= 400 and not reply.open_ended and method != "HEAD":
            if reply.headers.get("content-type", "").startswith("text/plain"):
                # Docker's errors for API 1.23 and before (a version below the minimum
                # included: its refusal is told as those clients read errors)
                message = reply.body.decode()
                asked = re.match(rb"\S+ /v(\d+)\.(\d+)/", raw.split(b"\r\n", 1)[0])
                assert asked and (int(asked[1]), int(asked[2])) < (1, 24), reply
            else:
                message = json.loads(reply.body)["message"]
            assert isinstance(message, str) and message, reply
    assert ping(world) == 200
    assert not worlds.errors, worlds.errors
    after = world.snapshot()
    if reply is None or reply.status >= 300:
        assert after == worlds.baseline, f"{reply} changed the state"
    if after != worlds.baseline or (reply is not None and reply.status < 300 and method != "GET"):
        worlds.discard()
    return reply


# --- the properties -----------------------------------------------------------------------------


@budget(150)
@given(calls())
def test_routes_answer_bad_input_with_4xx_and_change_nothing(worlds: Worlds, call: Call) -> None:
    worlds.current()
    reply = check(worlds, call.raw(worlds.names), call.method, framed=True)
    event(f"{reply.status if reply else None} {call.route}")


HTTP_INSERTS = st.sampled_from([b"\r\n", b"\n", b" ", b":", b"\x00", b"\r\n\r\n"]) | st.binary(
    min_size=1, max_size=6
)
SEED_REQUESTS = [
    b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b'POST /networks/create HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n{"Name": "new"}',
    b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"Ima\r\n10\r\nge": "alpine"}  \r\n0\r\n\r\n',
    b"DELETE /networks/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
]


@budget(150)
@given(mutated(SEED_REQUESTS, HTTP_INSERTS) | st.binary(max_size=200))
@example(b"GARBAGE\r\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
@example(b"GET / HTTP/1.1\r\nX: \xff\xfe\r\nHost: x\r\n\r\n")
@example(b"GET /v1.1/containers/json?all=1 HTTP/1.1\r\nHost: x\r\n\r\n")  # below the minimum
def test_unreadable_http_gets_a_4xx_or_a_close_and_the_server_stays_up(
    worlds: Worlds, raw: bytes
) -> None:
    method = raw.split(b" ", 1)[0].decode("latin-1")
    check(worlds, raw, method if method == "HEAD" else "GET", framed=False)


def test_every_route_is_fuzzed(worlds: Worlds) -> None:
    async def handler(req: Request) -> Response:
        return Response()

    listed = Router()
    for method, pattern in ROUTES + NOT_FUZZED:
        listed.add(method, pattern, handler)

    def table(router: Router) -> list[tuple[str, str]]:
        return sorted((method, regex.pattern) for method, regex, *_ in router._routes)

    assert table(worlds.current().app.router()) == table(listed)
