"""`ps`, `logs` (and the log view of an attached `up`), `config`, `port`."""

from __future__ import annotations

import json
import sys
import threading

from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.cli.ps import row
from hatoba.cli.render import table
from hatoba.cli.stream import STDERR, Demuxer
from hatoba.compose import requests

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.compose.session import Session
    from hatoba.compose.model import Project


def ps(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] [SERVICE...]", "List containers")
    p.flag("-a", "--all", help="Show all stopped containers")
    p.flag("-q", "--quiet", help="Only display IDs")
    p.flag("--services", help="Display services")
    p.option("--format", help="Format the output: table or json", default="table")
    ns = p.parse(args)
    name = session.project_name()
    found = [
        c
        for c in session.summaries(name, stopped=ns.all)
        if not ns.args or (c.get("Labels") or {}).get(requests.SERVICE) in ns.args
    ]
    found.sort(key=lambda c: (c.get("Names") or [""])[0])
    if ns.quiet:
        sys.stdout.write("".join(c["Id"] + "\n" for c in found))
        return 0
    if ns.services:
        services = dict.fromkeys((c.get("Labels") or {}).get(requests.SERVICE, "") for c in found)
        sys.stdout.write("".join(s + "\n" for s in services))
        return 0
    rows = [(c, row(c, truncate=True)) for c in found]
    if ns.format == "json":
        for c, r in rows:
            labels = c.get("Labels") or {}
            doc = {
                "Command": r["Command"],
                "CreatedAt": r["CreatedAt"],
                "ExitCode": c.get("ExitCode", 0),
                "ID": c["Id"],
                "Image": r["Image"],
                "Labels": r["Labels"],
                "Name": r["Names"],
                "Names": r["Names"],
                "Networks": r["Networks"],
                "Ports": r["Ports"],
                "Project": labels.get(requests.PROJECT, ""),
                "Publishers": [
                    {
                        "URL": pub.get("IP", ""),
                        "TargetPort": pub.get("PrivatePort", 0),
                        "PublishedPort": pub.get("PublicPort", 0),
                        "Protocol": pub.get("Type", "tcp"),
                    }
                    for pub in c.get("Ports") or []
                ],
                "RunningFor": r["RunningFor"],
                "Service": labels.get(requests.SERVICE, ""),
                "State": r["State"],
                "Status": r["Status"],
            }
            sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    if ns.format != "table":
        raise CliError(f"unsupported --format {ns.format!r}: table or json")
    cells = [["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]]
    for c, r in rows:
        service = (c.get("Labels") or {}).get(requests.SERVICE, "")
        cells.append(
            [
                r["Names"],
                r["Image"],
                r["Command"],
                service,
                r["RunningFor"],
                r["Status"],
                r["Ports"],
            ]
        )
    sys.stdout.write(table(cells))
    return 0


def logs(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] [SERVICE...]", "View output from containers")
    p.flag("-f", "--follow", help="Follow log output")
    p.option("-n", "--tail", help="Number of lines to show from the end of the logs", default="all")
    p.flag("-t", "--timestamps", help="Show timestamps")
    p.flag("--no-log-prefix", help="Don't print prefix in logs")
    ns = p.parse(args)
    name = session.project_name()
    found = [
        c
        for c in session.containers(name)
        if not c.oneoff and (not ns.args or c.service in ns.args)
    ]
    found.sort(key=lambda c: (c.service, c.number))
    targets = [(_prefix(c.name, name), c.id) for c in found]
    follow_logs(session, targets, follow=ns.follow, tail=ns.tail, timestamps=ns.timestamps,
                prefix=not ns.no_log_prefix)  # fmt: skip
    return 0


def _prefix(container: str, project: str) -> str:
    """docker compose's log prefix: the container name without `<project>-`."""
    return container.removeprefix(f"{project}-")


def follow_logs(
    session: Session,
    targets: list[tuple[str, str]],
    *,
    follow: bool,
    tail: str = "all",
    timestamps: bool = False,
    prefix: bool = True,
) -> None:
    """Each container's output, line by line, as docker compose prints it: `<name> | line`,
    names padded to the longest plus one."""
    width = max((len(label) for label, _ in targets), default=0) + 1
    lock = threading.Lock()

    def one(label: str, cid: str) -> None:
        query = {"stdout": 1, "stderr": 1, "follow": follow, "tail": tail, "timestamps": timestamps}
        info = session.client.json("GET", f"/containers/{cid}/json")
        tty = bool((info.get("Config") or {}).get("Tty"))
        response = session.client.request("GET", f"/containers/{cid}/logs", query)
        head = f"{label.ljust(width)} | " if prefix else ""
        lines = _Lines(head, lock, tty)
        for chunk in response.chunks():
            lines.feed(chunk)
        lines.flush()

    if not follow:
        for label, cid in targets:
            one(label, cid)
        return
    threads = [threading.Thread(target=one, args=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)


class _Lines:
    """Frames (or raw TTY output) → whole lines with a prefix, written under a shared lock."""

    def __init__(self, head: str, lock: threading.Lock, tty: bool) -> None:
        self.head = head.encode()
        self.lock = lock
        self.demuxer = None if tty else Demuxer()
        self.pending: dict[int, bytes] = {}

    def feed(self, data: bytes) -> None:
        frames = [(1, data)] if self.demuxer is None else self.demuxer.feed(data)
        for stream, payload in frames:
            text = self.pending.get(stream, b"") + payload
            *complete, self.pending[stream] = text.split(b"\n")
            self._write(stream, complete)

    def flush(self) -> None:
        for stream, rest in self.pending.items():
            if rest:
                self._write(stream, [rest])
        self.pending.clear()

    def _write(self, stream: int, lines: list[bytes]) -> None:
        if not lines:
            return
        out = sys.stderr.buffer if stream == STDERR else sys.stdout.buffer
        with self.lock:
            out.write(b"".join(self.head + line + b"\n" for line in lines))
            out.flush()


def attach_logs(session: Session, project: Project, services: list[str]) -> int:
    """`up` without -d: the services' output until they all end; Ctrl+C stops them."""
    found = [c for c in session.containers(project.name) if not c.oneoff and c.service in services]
    found.sort(key=lambda c: (c.service, c.number))
    targets = [(_prefix(c.name, project.name), c.id) for c in found]
    sys.stdout.write(f"Attaching to {', '.join(label for label, _ in targets)}\n")
    sys.stdout.flush()
    try:
        follow_logs(session, targets, follow=True, tail="all")
    except KeyboardInterrupt:
        sys.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        from hatoba.cli.compose.lifecycle import stop

        stop(session, services)
    return 0


def config(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] [SERVICE...]", "Parse, resolve and render compose file")
    p.flag("--services", help="Print the service names, one per line")
    p.flag("--networks", help="Print the network names, one per line")
    p.flag("--volumes", help="Print the volume names, one per line")
    p.flag("-q", "--quiet", help="Only validate the configuration, don't print anything")
    p.option("--format", help="Format the output: yaml or json", default="yaml")
    ns = p.parse(args)
    project = session.project(tuple(ns.args))
    if ns.quiet:
        return 0
    if ns.services:
        sys.stdout.write("".join(s + "\n" for s in project.service_names))
        return 0
    if ns.networks:
        sys.stdout.write("".join(n.key + "\n" for n in project.networks))
        return 0
    if ns.volumes:
        sys.stdout.write("".join(v.key + "\n" for v in project.volumes))
        return 0
    from hatoba.compose.export import project_document

    document = project_document(project)
    if ns.args:
        document["services"] = {k: v for k, v in document["services"].items() if k in ns.args}
    if ns.format == "json":
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return 0
    import yaml

    sys.stdout.write(
        yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
    )
    return 0


def port(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] SERVICE PRIVATE_PORT", "Print the public port")
    p.option("--protocol", help="tcp or udp", default="tcp")
    p.option("--index", help="Index of the container if service has multiple replicas",
             type=int, default=1, metavar="int")  # fmt: skip
    ns = p.parse(args)
    p.expect(ns.args, 2, 2)
    service, private = ns.args
    cid = container_of(session, service, ns.index)
    info: dict[str, Any] = session.client.json("GET", f"/containers/{cid}/json")
    bindings = ((info.get("NetworkSettings") or {}).get("Ports") or {}).get(
        f"{private}/{ns.protocol}"
    )
    if not bindings:
        raise CliError(f"no port {private}/{ns.protocol} for container {info['Name'].lstrip('/')}")
    sys.stdout.write(f"{bindings[0]['HostIp']}:{bindings[0]['HostPort']}\n")
    return 0


def container_of(session: Session, service: str, index: int) -> str:
    """The id of container number `index` of `service`."""
    name = session.project_name()
    for c in session.containers(name):
        if c.service == service and c.number == index and not c.oneoff:
            return c.id
    raise CliError(f"service {service!r} has no container number {index}")
