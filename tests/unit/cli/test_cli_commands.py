"""Commands end to end against a fake service: the requests docker's CLI would send, and the
outputs, error texts and exit statuses of the reference logs (reference/docker/logs)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeApi, Reply, Request, error, frame, json_reply, read_until_eof

Hatoba = Callable[..., int]
ID = "862b151a7d998c69b34663e71744c563e82044ea72abcecfce6daa58db3a0c91"
CID = "5c4ccd8afcb0ba30017212d957c54c2dada8b0e784ca1f063b4178686bd29b9c"


def out_err(capfd: pytest.CaptureFixture[str]) -> tuple[str, str]:
    captured = capfd.readouterr()
    return captured.out, captured.err


def network(name: str, ident: str, driver: str) -> dict[str, Any]:
    return {"Name": name, "Id": ident, "Driver": driver, "Scope": "local", "Labels": {}}


# --- networks ------------------------------------------------------------------------------

FRESH = [
    network("none", "f751c5da66f782abbf9da174d54481d53a78b52f7631e357f87ea417cb9b3783", "null"),
    network("bridge", "f263f513c03cac2659e56eb74b7114db798ac45b9fb87d67e2698e8d35c9a60b", "bridge"),
    network("host", "41d05d46ba0b8e7cb2e27f99a5cdcde8d27162b628f70eed2afb81c38b5d00e7", "host"),
]


def test_network_ls_is_the_reference_table(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/networks", json_reply(FRESH))
    assert hatoba("network", "ls") == 0
    assert out_err(capfd) == (
        "NETWORK ID     NAME      DRIVER    SCOPE\n"
        "f263f513c03c   bridge    bridge    local\n"
        "41d05d46ba0b   host      host      local\n"
        "f751c5da66f7   none      null      local\n",
        "",
    )


def test_network_ls_quiet_format_filter(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/networks", json_reply(FRESH))
    assert hatoba("network", "ls", "-q", "--no-trunc", "-f", "driver=bridge") == 0
    assert out_err(capfd)[0].split() == [FRESH[1]["Id"], FRESH[2]["Id"], FRESH[0]["Id"]]
    assert api.requests[0].arg("filters") == '{"driver": {"bridge": true}}'
    assert hatoba("network", "ls", "--format", "{{.Name}}\\t{{.Driver}}") == 0
    assert out_err(capfd)[0] == "bridge\tbridge\nhost\thost\nnone\tnull\n"
    assert hatoba("network", "ls", "--format", "table {{.Name}}\\t{{.Internal}}") == 0
    assert out_err(capfd)[0] == (
        "NAME      INTERNAL\nbridge    false\nhost      false\nnone      false\n"
    )
    assert hatoba("network", "ls", "--format", "json") == 0
    first = out_err(capfd)[0].splitlines()[0]
    assert first.startswith('{"CreatedAt":"","Driver":"bridge","ID":"f263f513c03c"')


def test_network_create_sends_dockers_body(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("POST", "/networks/create", json_reply({"Id": ID, "Warning": ""}, 201))
    args = ["--subnet", "172.30.0.0/16", "--ip-range", "172.30.9.0/24", "--gateway", "172.30.0.1"]
    assert hatoba("network", "create", *args, "--internal", "-o", "a=b", "--label", "x", "rng") == 0
    assert out_err(capfd) == (ID + "\n", "")
    assert api.requests[0].json() == {
        "Name": "rng",
        "CheckDuplicate": True,
        "Driver": "bridge",
        "Scope": "",
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Config": [
                {"Subnet": "172.30.0.0/16", "IPRange": "172.30.9.0/24", "Gateway": "172.30.0.1"}
            ],
            "Options": {},
        },
        "Internal": True,
        "Attachable": False,
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": {"a": "b"},
        "Labels": {"x": ""},
    }


def test_network_create_with_ipv6_subnets_and_ipv4_off(api: FakeApi, hatoba: Hatoba) -> None:
    api.route("POST", "/networks/create", json_reply({"Id": ID, "Warning": ""}, 201))
    subnets = ["--subnet", "fd00:1::/64", "--gateway", "fd00:1::fe", "--subnet", "fd00:2::/64"]
    assert hatoba("network", "create", "--ipv6", "--ipv4=false", *subnets, "only6") == 0
    sent = api.requests[0].json()
    assert (sent["EnableIPv6"], sent["EnableIPv4"]) == (True, False)
    assert sent["IPAM"]["Config"] == [
        {"Subnet": "fd00:1::/64", "Gateway": "fd00:1::fe"},
        {"Subnet": "fd00:2::/64"},
    ]
    # IPv4 on, the default: not sent, as the docker CLI sends nothing below API 1.48
    assert hatoba("network", "create", "--ipv6", "dual") == 0
    assert "EnableIPv4" not in api.requests[1].json()


def test_network_create_checks_the_gateway_itself(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    code = hatoba("network", "create", "--subnet", "172.30.0.0/16", "--gateway", "172.31.0.1", "x")
    assert code == 1
    assert out_err(capfd) == ("", "no matching subnet for gateway 172.31.0.1\n")
    assert api.requests == []


def test_network_create_refused(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    message = 'only one instance of "host" network is allowed'
    api.route("POST", "/networks/create", error(403, message))
    assert hatoba("network", "create", "-d", "host", "sample2") == 1
    assert out_err(capfd) == ("", f"Error response from daemon: {message}\n")
    assert api.requests[0].json()["Driver"] == "host"


def test_network_rm_tries_every_name(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("DELETE", "/networks/ok", Reply(204))
    api.route("DELETE", "/networks/sample", error(409, f"error while removing network: network sample id {ID} has active endpoints"))  # fmt: skip  # noqa: E501
    api.route("DELETE", "/networks/bridge", error(403, "bridge is a pre-defined network and cannot be removed"))  # fmt: skip  # noqa: E501
    assert hatoba("network", "rm", "tiny31", "sample", "ok", "bridge") == 1
    assert out_err(capfd) == (
        "ok\n",
        "Error: No such network: tiny31\n"
        f"Error response from daemon: error while removing network: network sample id {ID} has active endpoints\n"  # noqa: E501
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n",
    )  # fmt: skip
    assert api.calls()[-1] == ("DELETE", "/networks/bridge")


def test_network_inspect(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    ipam = {"Driver": "default", "Options": {}, "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}  # fmt: skip  # noqa: E501
    api.route(
        "GET", "/networks/sample", json_reply({"Name": "sample", "IPAM": ipam, "Options": {}})
    )
    assert hatoba("network", "inspect", "-f", "{{json .IPAM}}", "sample") == 0
    assert out_err(capfd) == (
        '{"Driver":"default","Options":{},"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]}\n',
        "",
    )  # fmt: skip
    assert hatoba("network", "inspect", "sample", "nope") == 1
    out, err = out_err(capfd)
    assert out.startswith('[\n    {\n        "Name": "sample",\n        "IPAM": {\n')
    assert out.endswith('        "Options": {}\n    }\n]\n')
    assert err == "Error: No such network: nope\n"
    assert hatoba("network", "inspect", "nope") == 1
    assert out_err(capfd) == ("[]\n", "Error: No such network: nope\n")


def test_network_connect_and_disconnect(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("POST", "/networks/netB/connect", Reply(200))
    api.route("POST", "/networks/netB/disconnect", Reply(200))
    assert hatoba("network", "connect", "--alias", "svc2", "--alias", "svc", "--ip", "172.24.0.9", "netB", "a1") == 0  # fmt: skip  # noqa: E501
    assert hatoba("network", "connect", "netB", "a1") == 0
    assert hatoba("network", "disconnect", "-f", "netB", "a1") == 0
    assert out_err(capfd) == ("", "")
    first, second, third = (r.json() for r in api.requests)
    assert first == {
        "Container": "a1",
        "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": "172.24.0.9"},
            "Links": None,
            "Aliases": ["svc2", "svc"],
            "DriverOpts": {},
        },
    }
    assert second["EndpointConfig"]["IPAMConfig"] == {}
    assert third == {"Container": "a1", "Force": True}


def test_network_connect_error(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    message = "endpoint with name a1 already exists in network netB"
    api.route("POST", "/networks/netB/connect", error(409, message))
    assert hatoba("network", "connect", "netB", "a1") == 1
    assert out_err(capfd) == ("", f"Error response from daemon: {message}\n")


def test_network_prune(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.route("POST", "/networks/prune", json_reply({"NetworksDeleted": ["sample"]}))
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert hatoba("network", "prune") == 0
    assert api.requests == []
    out, _ = out_err(capfd)
    assert out.endswith("Are you sure you want to continue? [y/N] ")
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert hatoba("network", "prune") == 0
    assert out_err(capfd)[0].endswith("[y/N] Deleted Networks:\nsample\n\n")
    assert hatoba("network", "prune", "-f") == 0
    assert out_err(capfd)[0] == "Deleted Networks:\nsample\n\n"


# --- run -----------------------------------------------------------------------------------

RUN_ROUTE = "/hatoba/containers/run"


def test_run_detached_creates_and_starts_in_one_request_and_prints_the_id(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    warning = "Published ports are discarded when using host network mode"
    api.route("POST", RUN_ROUTE, json_reply({"Id": CID, "Warnings": [warning]}, 201))
    assert hatoba("run", "-d", "--name", "web", "--net", "host", "-p", "9999:80", "httpd") == 0
    assert out_err(capfd) == (CID + "\n", f"WARNING: {warning}\n")
    assert api.calls() == [("POST", RUN_ROUTE)]
    run = api.requests[0]
    assert run.query == {"name": ["web"]}
    assert run.json()["HostConfig"]["NetworkMode"] == "host"


def test_run_detached_creates_then_starts_on_an_engine_without_the_run_route(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    warning = "Published ports are discarded when using host network mode"
    api.route("POST", "/containers/create", json_reply({"Id": CID, "Warnings": [warning]}, 201))
    api.route("POST", f"/containers/{CID}/start", Reply(204))
    assert hatoba("run", "-d", "--name", "web", "--net", "host", "-p", "9999:80", "httpd") == 0
    assert out_err(capfd) == (CID + "\n", f"WARNING: {warning}\n")
    assert api.calls() == [
        ("POST", RUN_ROUTE),
        ("POST", "/containers/create"),
        ("POST", f"/containers/{CID}/start"),
    ]
    create = api.requests[1]
    # marked as the first half of a run: the service removes it if it crashes before the start
    assert create.query == {"name": ["web"], "hatoba-run": ["1"]}
    assert create.json()["HostConfig"]["NetworkMode"] == "host"


START_FAILURES = [
    (
        "driver failed programming external connectivity on endpoint p2 (8b51): Bind for 0.0.0.0:8090 failed: port is already allocated",  # noqa: E501
        125,
    ),
    ('exec: "nope": executable file not found in $PATH', 127),
    ("executable file `nope` not found in $PATH: No such file or directory", 127),
    ("exec: /etc/passwd: permission denied", 126),
]


@pytest.mark.parametrize(("message", "code"), START_FAILURES)
def test_run_whose_start_fails_is_answered_with_the_error_and_the_container_removed(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], message: str, code: int
) -> None:
    failed = {"Message": message, "Status": 500}
    api.route("POST", RUN_ROUTE, json_reply({"Id": CID, "Warnings": [], "Error": failed}, 201))
    assert hatoba("run", "-d", "--name", "p2", "-p", "8090:80", "httpd") == code
    assert out_err(capfd) == ("", f"hatoba: Error response from daemon: {message}.\n")
    # the service removed it: nothing more to ask
    assert api.calls() == [("POST", RUN_ROUTE)]


@pytest.mark.parametrize(("message", "code"), START_FAILURES)
def test_run_whose_start_fails_removes_the_container(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], message: str, code: int
) -> None:
    api.route("POST", "/containers/create", json_reply({"Id": CID, "Warnings": []}, 201))
    api.route("POST", f"/containers/{CID}/start", error(500, message))
    api.route("DELETE", f"/containers/{CID}", Reply(204))
    assert hatoba("run", "-d", "--name", "p2", "-p", "8090:80", "httpd") == code
    assert out_err(capfd) == ("", f"hatoba: Error response from daemon: {message}.\n")
    assert api.calls()[-1] == ("DELETE", f"/containers/{CID}")
    # its anonymous volumes go with it
    assert api.requests[-1].query == {"force": ["1"], "v": ["1"]}


def test_run_whose_create_fails(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    message = f'Conflict. The container name "/dupname" is already in use by container "{CID}". You have to remove (or rename) that container to be able to reuse that name.'  # noqa: E501
    api.route("POST", RUN_ROUTE, error(409, message))
    assert hatoba("run", "-d", "--name", "dupname", "alpine:latest", "sleep", "1d") == 125
    assert out_err(capfd) == (
        "",
        f"hatoba: Error response from daemon: {message}\nSee 'hatoba run --help'.\n",
    )
    missing = (
        "",
        "Unable to find image 'nope:latest' locally\n"
        "hatoba: Error response from daemon: No such image: nope:latest.\n"
        "See 'hatoba run --help'.\n",
    )
    # a missing image is not a missing route: no create after it
    api.route("POST", RUN_ROUTE, error(404, "No such image: nope:latest"))
    assert hatoba("run", "-d", "nope") == 125
    assert out_err(capfd) == missing
    assert api.calls()[-1] == ("POST", RUN_ROUTE)
    api.route("POST", "/containers/create", error(404, "No such image: nope:latest"))
    assert hatoba("run", "nope") == 125
    assert out_err(capfd) == missing


def test_create_prints_the_id_and_fails_like_docker_create(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("POST", "/containers/create", json_reply({"Id": CID, "Warnings": None}, 201))
    assert hatoba("create", "-it", "alpine") == 0
    assert out_err(capfd) == (CID + "\n", "")
    assert "hatoba-run" not in api.requests[0].query
    body = api.requests[0].json()
    assert (body["AttachStdin"], body["OpenStdin"], body["StdinOnce"]) == (True, True, False)
    api.route("POST", "/containers/create", error(404, "network nope not found"))
    assert hatoba("create", "--net", "nope", "alpine") == 1
    assert out_err(capfd) == ("", "Error response from daemon: network nope not found\n")


def test_run_usage_errors(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    assert hatoba("run", "--net", "bridge", "--network-alias", "foo", "alpine") == 125
    assert out_err(capfd) == (
        "",
        "hatoba: network-scoped aliases are only supported for user-defined networks.\n"
        "See 'hatoba run --help'.\n",
    )
    assert hatoba("run", "--bogus", "alpine") == 125
    assert out_err(capfd) == ("", "unknown flag: --bogus\nSee 'hatoba run --help'.\n")
    assert hatoba("run") == 1
    assert out_err(capfd)[1].startswith('"hatoba run" requires at least 1 argument.')
    assert hatoba("run", "-it", "alpine") == 1  # stdin is not a terminal under pytest
    assert out_err(capfd) == ("", "the input device is not a TTY\n")
    assert api.requests == []


class Container:
    """Routes of one container for an attached run: attach waits for start, wait for the end."""

    def __init__(self, api: FakeApi, output: bytes, status: int, echo_stdin: bool = False) -> None:
        self.started = threading.Event()
        self.waiting = threading.Event()
        self.exited = threading.Event()
        self.wait_came_first: bool | None = None
        self.stdin: bytes | None = None
        self.output = output
        self.status = status
        self.echo = echo_stdin
        api.route("POST", "/containers/create", json_reply({"Id": CID, "Warnings": []}, 201))
        api.route("POST", f"/containers/{CID}/attach", Reply(hijack=self.attach))
        api.route("POST", f"/containers/{CID}/wait", self.wait)
        api.route("POST", f"/containers/{CID}/start", self.start)
        api.route("POST", f"/containers/{CID}/kill", Reply(204))

    def attach(self, conn: socket.socket, first: bytes) -> None:
        if self.echo:
            self.stdin = read_until_eof(conn, first)
        self.started.wait(5)
        conn.sendall(self.output)
        if self.echo:
            conn.sendall(frame(1, self.stdin.upper()))
        self.exited.set()

    def start(self, request: Request) -> Reply:
        self.wait_came_first = self.waiting.wait(5)
        self.started.set()
        return Reply(204)

    def wait(self, request: Request) -> Reply:
        self.waiting.set()
        self.exited.wait(5)
        return json_reply({"StatusCode": self.status, "Error": None})


def test_attached_run_relays_and_exits_with_the_containers_status(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    container = Container(api, frame(1, b"PING x\n") + frame(2, b"ping: bad address\n"), 3)
    assert hatoba("run", "--rm", "--net", "sample", "alpine", "ping", "-c", "1", "x") == 3
    assert out_err(capfd) == ("PING x\n", "ping: bad address\n")
    assert [c for c in api.calls() if c[1] != f"/containers/{CID}/wait"] == [
        ("POST", "/containers/create"),
        ("POST", f"/containers/{CID}/attach"),
        ("POST", f"/containers/{CID}/start"),
    ]
    assert container.wait_came_first
    assert api.find("POST", f"/containers/{CID}/wait").query == {"condition": ["removed"]}
    attach = api.find("POST", f"/containers/{CID}/attach")
    assert attach.query == {"stream": ["1"], "stdin": ["0"], "stdout": ["1"], "stderr": ["1"]}
    body = api.requests[0].json()
    assert body["Cmd"] == ["ping", "-c", "1", "x"]
    assert body["HostConfig"]["AutoRemove"] is True


@pytest.fixture
def piped_stdin() -> Iterator[int]:
    """fd 0 is a pipe the test writes to."""
    saved = os.dup(0)
    read, write = os.pipe()
    os.dup2(read, 0)
    os.close(read)
    try:
        yield write
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def test_attached_interactive_run_sends_stdin_then_half_closes(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], piped_stdin: int
) -> None:
    container = Container(api, b"", 0, echo_stdin=True)
    os.write(piped_stdin, b"hello from stdin\n")
    os.close(piped_stdin)
    assert hatoba("run", "-i", "alpine", "cat") == 0
    assert container.stdin == b"hello from stdin\n"
    assert out_err(capfd) == ("HELLO FROM STDIN\n", "")
    assert api.find("POST", f"/containers/{CID}/wait").query == {"condition": ["next-exit"]}
    body = api.requests[0].json()
    assert (body["AttachStdin"], body["OpenStdin"], body["StdinOnce"]) == (True, True, True)


# --- containers ----------------------------------------------------------------------------

PS_REFERENCE = """\
CONTAINER ID   IMAGE          COMMAND                  CREATED                  STATUS                  PORTS                                   NAMES
5c4ccd8afcb0   httpd:latest   "/bin/busybox httpd …"   Less than a second ago   Up Less than a second   0.0.0.0:8000->80/tcp, :::8000->80/tcp   httpd-sample
"""  # noqa: E501


def summary(**kw: Any) -> dict[str, Any]:
    entry = {
        "Id": CID,
        "Names": ["/httpd-sample"],
        "Image": "httpd:latest",
        "ImageID": "sha256:" + "1" * 64,
        "Command": "/bin/busybox httpd -f -v -p 80 -h /www",
        "Created": int(time.time()),
        "Ports": [
            {"IP": "::", "PrivatePort": 80, "PublicPort": 8000, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8000, "Type": "tcp"},
        ],
        "Labels": {},
        "State": "running",
        "Status": "Up Less than a second",
        "NetworkSettings": {"Networks": {"bridge": {}}},
    }
    entry.update(kw)
    return entry


def test_ps_is_the_reference_table(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/containers/json", json_reply([summary()]))
    assert hatoba("ps", "--filter", "name=httpd-sample") == 0
    assert out_err(capfd) == (PS_REFERENCE, "")
    assert api.requests[0].query == {"filters": ['{"name": {"httpd-sample": true}}']}


def test_ps_formats(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    created = summary(Names=["/t2"], Status="Created", State="created", Ports=[])
    api.route("GET", "/containers/json", json_reply([created]))
    assert hatoba("ps", "-a", "--filter", "name=t2", "--format", "{{.Names}} {{.Status}}") == 0
    assert out_err(capfd) == ("t2 Created\n", "")
    assert api.requests[0].arg("all") == "1"
    assert hatoba("ps", "-q") == 0
    assert out_err(capfd) == (CID[:12] + "\n", "")
    assert hatoba("ps", "--format", "{{.Names}} ports=[{{.Ports}}]") == 0
    assert out_err(capfd) == ("t2 ports=[]\n", "")


def test_ps_ports_grouping() -> None:
    from hatoba.cli.ps import ports

    entries = [
        {"IP": "0.0.0.0", "PrivatePort": 81, "PublicPort": 81, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 80, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
        {"IP": "127.0.0.1", "PrivatePort": 5000, "PublicPort": 6000, "Type": "tcp"},
    ]
    assert ports(entries) == "53/udp, 0.0.0.0:80-81->80-81/tcp, 443/tcp, 127.0.0.1:6000->5000/tcp"


def test_ps_mounts_column() -> None:
    from hatoba.cli.ps import mounts

    entries = [{"Name": "a" * 64, "Source": "/x"}, {"Source": "/srv/conf"}]
    assert mounts(entries, truncate=True) == "aaaaaaaaaaaaaa…,/srv/conf"
    assert mounts(entries, truncate=False) == "a" * 64 + ",/srv/conf"


def inspected(**kw: Any) -> dict[str, Any]:
    data = {
        "Id": CID,
        "Name": "/httpd-sample",
        "Config": {"Tty": False, "OpenStdin": False},
        "HostConfig": {"AutoRemove": False},
        "NetworkSettings": {
            "Ports": {
                "80/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "8000"},
                    {"HostIp": "::", "HostPort": "8000"},
                ],
                "53/udp": None,
            }
        },
    }
    data.update(kw)
    return data


def test_port(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    api.route("GET", "/containers/httpd-sample/json", json_reply(inspected()))
    assert hatoba("port", "httpd-sample") == 0
    assert out_err(capfd) == ("80/tcp -> 0.0.0.0:8000\n80/tcp -> :::8000\n", "")
    assert hatoba("port", "httpd-sample", "80/tcp") == 0
    assert out_err(capfd) == ("0.0.0.0:8000\n:::8000\n", "")
    assert hatoba("port", "httpd-sample", "81") == 1
    assert out_err(capfd) == ("", "Error: No public port '81/tcp' published for httpd-sample\n")
    assert hatoba("port", "nope") == 1
    assert out_err(capfd) == ("", "Error: No such container: nope\n")


def test_rm(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    api.route("DELETE", "/containers/t1", Reply(204))
    api.route("DELETE", "/containers/busy", error(409, "You cannot remove a running container"))
    assert hatoba("rm", "t1", "gone", "busy") == 1
    assert out_err(capfd) == (
        "t1\n",
        "Error: No such container: gone\n"
        "Error response from daemon: You cannot remove a running container\n",
    )
    assert hatoba("rm", "-f", "t1", "gone") == 0
    assert out_err(capfd) == ("t1\n", "Error: No such container: gone\n")
    assert api.requests[-1].query == {"force": ["1"]}


def test_stop_restart_kill_wait(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        for verb in ("stop", "restart", "kill"):
            api.route("POST", f"/containers/{name}/{verb}", Reply(204))
        api.route("POST", f"/containers/{name}/wait", json_reply({"StatusCode": 137}))
    assert hatoba("stop", "-t", "3", "a", "b") == 0
    assert hatoba("restart", "a") == 0
    assert hatoba("kill", "-s", "TERM", "b") == 0
    assert hatoba("wait", "a", "b") == 0
    assert hatoba("stop", "c") == 1
    assert out_err(capfd) == (
        "a\nb\na\nb\n137\n137\n",
        "Error response from daemon: page not found: /containers/c/stop\n",
    )
    assert api.find("POST", "/containers/b/stop").query == {"t": ["3"]}
    assert api.find("POST", "/containers/a/restart").query == {}
    assert api.find("POST", "/containers/b/kill").query == {"signal": ["TERM"]}


def test_pause_unpause_update(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    for verb in ("pause", "unpause"):
        api.route("POST", f"/containers/a/{verb}", Reply(204))
        api.route("POST", f"/containers/b/{verb}", error(409, "Container b is not running"))
    warning = {"Warnings": ["Your kernel does not support swap limit capabilities"]}
    api.route("POST", "/containers/a/update", json_reply(warning))
    api.route("POST", "/containers/b/update", error(400, "Minimum memory limit allowed is 6MB"))
    assert hatoba("pause", "a") == 0
    assert hatoba("unpause", "a", "b") == 1
    assert out_err(capfd) == (
        "a\na\n",
        "Error response from daemon: Container b is not running\n",
    )
    assert hatoba("update", "-m", "20m", "--pids-limit", "-1", "--cpus", "0.5",
                  "--restart", "on-failure:2", "a", "b") == 1  # fmt: skip
    assert out_err(capfd) == (
        "a\nYour kernel does not support swap limit capabilities\n",
        "Error response from daemon: Minimum memory limit allowed is 6MB\n",
    )
    assert api.find("POST", "/containers/a/update").json() == {
        "Memory": 20 << 20,
        "MemorySwap": 0,
        "NanoCpus": 500_000_000,
        "CpuShares": 0,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "PidsLimit": -1,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
    }
    assert hatoba("update", "a") == 1
    assert out_err(capfd) == ("", "you must provide one or more flags when using this command\n")
    assert hatoba("update", "--restart", "always", "a") == 0
    assert api.requests[-1].json()["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    assert "PidsLimit" not in api.requests[-1].json()


def test_start(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    api.route("POST", "/containers/a/start", Reply(204))
    api.route("POST", "/containers/b/start", error(500, "network nope not found"))
    assert hatoba("start", "a", "b") == 1
    assert out_err(capfd) == (
        "a\n",
        "Error response from daemon: network nope not found\n"
        "Error: failed to start containers: b\n",
    )


def test_logs_learns_the_tty_first(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/containers/web/json", json_reply(inspected()))
    api.route(
        "GET",
        f"/containers/{CID}/logs",
        Reply(chunks=[frame(1, b"line 1\n") + frame(2, b"warn"), frame(2, b"ing\n")]),
    )
    assert hatoba("logs", "--tail", "2", "-t", "web") == 0
    assert out_err(capfd) == ("line 1\n", "warning\n")
    logs = api.requests[1]
    assert logs.query == {
        "stdout": ["1"],
        "stderr": ["1"],
        "timestamps": ["1"],
        "follow": ["0"],
        "tail": ["2"],
        "details": ["0"],
    }
    api.route("GET", "/containers/tty/json", json_reply(inspected(Config={"Tty": True})))
    api.route("GET", f"/containers/{CID}/logs", Reply(chunks=[b"\x01raw"]))
    assert hatoba("logs", "tty") == 0
    assert out_err(capfd) == ("\x01raw", "")


def test_exec(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    def start(conn: socket.socket, first: bytes) -> None:
        conn.sendall(frame(1, b"inet addr:172.17.0.2\n"))

    api.route("POST", "/containers/s1/exec", json_reply({"Id": "e1"}, 201))
    api.route("POST", "/exec/e1/start", Reply(hijack=start))
    api.route("GET", "/exec/e1/json", json_reply({"ExitCode": 2, "Running": False}))
    assert hatoba("exec", "-e", "A=1", "-w", "/tmp", "s1", "ifconfig", "-a") == 2
    assert out_err(capfd) == ("inet addr:172.17.0.2\n", "")
    assert api.requests[0].json() == {
        "User": "",
        "Privileged": False,
        "Tty": False,
        "AttachStdin": False,
        "AttachStderr": True,
        "AttachStdout": True,
        "Detach": False,
        "DetachKeys": "",
        "Env": ["A=1"],
        "WorkingDir": "/tmp",
        "Cmd": ["ifconfig", "-a"],
    }
    assert api.requests[1].json() == {"Detach": False, "Tty": False}
    assert api.requests[1].headers["upgrade"] == "tcp"


def test_exec_detached_and_errors(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("POST", "/containers/s1/exec", json_reply({"Id": "e1"}, 201))
    api.route("POST", "/exec/e1/start", Reply(200))
    assert hatoba("exec", "-d", "s1", "sleep", "1") == 0
    assert api.requests[1].json() == {"Detach": True, "Tty": False}
    api.route("POST", "/containers/s2/exec", error(409, f"Container {CID} is not running"))
    assert hatoba("exec", "s2", "true") == 1
    assert out_err(capfd) == ("", f"Error response from daemon: Container {CID} is not running\n")
    assert hatoba("exec", "-it", "s1", "sh") == 1
    assert out_err(capfd) == ("", "the input device is not a TTY\n")


def test_inspect_tries_containers_images_then_networks(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]
) -> None:
    api.route("GET", "/networks/sample", json_reply({"Name": "sample", "Internal": False}))
    assert hatoba("inspect", "-f", "{{.Name}} {{.Internal}}", "sample") == 0
    assert out_err(capfd) == ("sample false\n", "")
    assert api.calls() == [
        ("GET", "/containers/sample/json"),
        ("GET", "/images/sample/json"),
        ("GET", "/networks/sample"),
    ]
    assert hatoba("inspect", "nope") == 1
    assert out_err(capfd) == ("[]\n", "Error: No such object: nope\n")
    assert hatoba("container", "inspect", "sample") == 1
    assert out_err(capfd) == ("[]\n", "Error: No such container: sample\n")


# --- images --------------------------------------------------------------------------------


def test_images(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    now = int(time.time())
    api.route(
        "GET",
        "/images/json",
        json_reply(
            [
                {
                    "Id": "sha256:" + "a" * 64,
                    "RepoTags": ["alpine:latest"],
                    "Created": now - 7200,
                    "Size": 1_234_567,
                },
                {
                    "Id": "sha256:" + "b" * 64,
                    "RepoTags": ["nettools:latest", "iperf3:latest"],
                    "Created": now - 30,
                    "Size": 9_870_000,
                },
                {"Id": "sha256:" + "c" * 64, "RepoTags": None, "Created": now - 5, "Size": 10},
            ]
        ),
    )
    assert hatoba("images") == 0
    assert out_err(capfd) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED          SIZE\n"
        "<none>       <none>    cccccccccccc   5 seconds ago    10B\n"
        "nettools     latest    bbbbbbbbbbbb   30 seconds ago   9.87MB\n"
        "iperf3       latest    bbbbbbbbbbbb   30 seconds ago   9.87MB\n"
        "alpine       latest    aaaaaaaaaaaa   2 hours ago      1.23MB\n",
        "",
    )
    assert hatoba("image", "ls", "-q", "alpine") == 0
    assert api.requests[-1].arg("filters") == '{"reference": {"alpine": true}}'


def test_import_streams_the_tarball(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image_id = "sha256:" + "d" * 64
    api.route("POST", "/images/create", Reply(chunks=[b'{"status":"%s"}\n' % image_id.encode()]))
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"tar" * 1000)
    assert hatoba("import", "-c", 'CMD ["/bin/sh"]', str(tarball), "alpine:latest") == 0
    assert out_err(capfd) == (image_id + "\n", "")
    request = api.requests[0]
    assert request.query == {
        "fromSrc": ["-"],
        "repo": ["alpine:latest"],
        "tag": [""],
        "message": [""],
        "changes": ['CMD ["/bin/sh"]'],
    }
    assert request.body == b"tar" * 1000
    assert hatoba("import", str(tmp_path / "missing.tar")) == 1
    assert out_err(capfd) == ("", f"open {tmp_path}/missing.tar: no such file or directory\n")


def test_load_prints_the_stream(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    archive = tmp_path / "alpine.tar"
    archive.write_bytes(b"archive")
    api.route(
        "POST",
        "/images/load",
        Reply(
            headers=[("Content-Type", "application/json")],
            chunks=[b'{"stream":"Loaded image: alpine:latest\\n"}\n'],
        ),
    )
    assert hatoba("load", "-i", str(archive)) == 0
    assert out_err(capfd) == ("Loaded image: alpine:latest\n", "")
    assert api.requests[0].query == {"quiet": ["1"]}
    assert api.requests[0].body == b"archive"
    api.route(
        "POST",
        "/images/load",
        Reply(
            headers=[("Content-Type", "application/json")],
            chunks=[b'{"errorDetail":{"message":"invalid tar header"},"error":"invalid tar header"}\n'],  # noqa: E501
        ),
    )  # fmt: skip
    assert hatoba("load", "-i", str(archive)) == 1
    assert out_err(capfd) == ("", "invalid tar header\n")


def test_save_to_a_file(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api.route("GET", "/images/get", Reply(chunks=[b"tar ", b"bytes"]))
    target = tmp_path / "out.tar"
    assert hatoba("save", "-o", str(target), "alpine", "httpd") == 0
    assert target.read_bytes() == b"tar bytes"
    assert api.requests[0].query == {"names": ["alpine", "httpd"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hatoba.sock", "out.tar"]


def test_rmi_and_tag(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    api.route(
        "DELETE",
        "/images/alpine",
        json_reply([{"Untagged": "alpine:latest"}, {"Deleted": "sha256:" + "a" * 64}]),
    )
    api.route("POST", "/images/alpine/tag", Reply(201))
    assert hatoba("rmi", "alpine", "nope") == 1
    assert out_err(capfd) == (
        f"Untagged: alpine:latest\nDeleted: sha256:{'a' * 64}\n",
        "Error: No such image: nope\n",
    )
    assert api.requests[0].query == {}
    assert hatoba("rmi", "-f", "nope") == 0
    assert out_err(capfd) == ("", "Error: No such image: nope\n")
    assert hatoba("tag", "alpine", "localhost:5000/me/alpine:v1") == 0
    assert api.requests[-1].query == {"repo": ["localhost:5000/me/alpine"], "tag": ["v1"]}
    assert hatoba("tag", "alpine", "localhost:5000/me") == 0
    assert api.requests[-1].query == {"repo": ["localhost:5000/me"], "tag": [""]}


# --- system --------------------------------------------------------------------------------


def test_version_and_info(api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    api.route(
        "GET",
        "/version",
        json_reply(
            {
                "Version": "0.1.0",
                "ApiVersion": "1.41",
                "MinAPIVersion": "1.24",
                "Os": "linux",
                "Arch": "x86_64",
                "KernelVersion": "6.18",
                "GoVersion": "python3.11.7",
            }
        ),
    )
    api.route(
        "GET",
        "/info",
        json_reply(
            {
                "Containers": 3,
                "ContainersRunning": 1,
                "ContainersStopped": 2,
                "Networks": 4,
                "Hatoba": {"Root": "/r", "RunRoot": "/rr", "Pid": 42},
            }
        ),
    )
    assert hatoba("version") == 0
    out = out_err(capfd)[0]
    assert out.startswith("Client:\n Version:           0.1.0\n API version:       1.41\n")
    assert "Server:\n Engine:\n  Version:          0.1.0\n" in out
    assert "  API version:      1.41 (minimum version 1.24)\n" in out
    assert "  OS/Arch:          linux/amd64\n" in out
    assert hatoba("version", "--format", "{{.Server.Version}}") == 0
    assert out_err(capfd)[0] == "0.1.0\n"
    assert hatoba("info") == 0
    out = out_err(capfd)[0]
    assert " Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n" in out
    assert " Networks: 4\n" in out and " Root Dir: /r\n" in out and " Service PID: 42\n" in out


def test_system_reset_asks_first(
    api: FakeApi, hatoba: Hatoba, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.route("POST", "/hatoba/system/reset", Reply(204))
    api.route("POST", "/hatoba/system/firewall-reload", Reply(204))
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert hatoba("system", "reset") == 0
    assert api.requests == []
    assert hatoba("system", "reset", "-f") == 0
    assert hatoba("system", "firewall-reload") == 0
    assert api.calls() == [
        ("POST", "/hatoba/system/reset"),
        ("POST", "/hatoba/system/firewall-reload"),
    ]


# --- the command line itself ---------------------------------------------------------------


def test_unknown_commands_and_help(hatoba: Hatoba, capfd: pytest.CaptureFixture[str]) -> None:
    assert hatoba("nope") == 1
    assert out_err(capfd) == ("", "hatoba: 'nope' is not a hatoba command.\nSee 'hatoba --help'\n")
    assert hatoba("network", "nope") == 1
    assert out_err(capfd)[1].startswith("hatoba: 'network nope' is not a hatoba command.")
    assert hatoba("--help") == 0
    assert "Management Commands:\n  container" in out_err(capfd)[0]
    assert hatoba("network", "ls", "--help") == 0
    assert out_err(capfd)[0].startswith("\nUsage:  hatoba network ls [OPTIONS]\n")
    assert hatoba("--bogus") == 125
    assert out_err(capfd) == ("", "unknown flag: --bogus\nSee 'hatoba --help'.\n")


def test_global_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from hatoba.cli.main import _global_options

    monkeypatch.setenv("HATOBA_ROOT", "/tmp/r")
    monkeypatch.setenv("HATOBA_RUN_ROOT", "/tmp/rr")
    ctx, rest = _global_options(["--debug", "network", "ls", "--root", "x"])
    assert (ctx.root, ctx.run_root, ctx.debug, ctx.host) == ("/tmp/r", "/tmp/rr", True, None)
    assert ctx.socket_path == "/tmp/rr/hatoba.sock"
    assert rest == ["network", "ls", "--root", "x"]
    ctx, rest = _global_options(["--root=/a", "--run-root", "/b", "-H", "unix:///s.sock", "ps"])
    assert (ctx.root, ctx.run_root, ctx.socket_path, rest) == ("/a", "/b", "/s.sock", ["ps"])
