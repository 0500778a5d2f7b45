"""`exec` (a command in a service's container) and `run` (a one-off container of a service).

`run` is docker compose's: what the service depends on is brought up first (unless
--no-deps), the container is `<project>-<service>-run-<12 hex>`, labelled one-off, with only
its own name as alias and no published ports (unless --service-ports); it is attached to
the terminal unless -d, and removed at its end with --rm.
"""

from __future__ import annotations

import os
import secrets
import sys

from hatoba.cli.compose.show import container_of
from hatoba.cli.compose.up import converge
from hatoba.cli.compose.volumes import create_volume
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.compose import requests
from hatoba.compose.plan import UpOptions, plan_networks, plan_volumes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hatoba.cli.compose.session import Session


def exec_(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] SERVICE COMMAND [ARGS...]", "Execute a command")
    p.flag("-d", "--detach", help="Detached mode: Run command in the background")
    p.flag("-T", "--no-TTY", help="Disable pseudo-TTY allocation (default: auto-detected)")
    p.repeated("-e", "--env", help="Set environment variables")
    p.option("-u", "--user", help="Run the command as this user", default="")
    p.option("-w", "--workdir", help="Path to workdir directory for this command", default="")
    p.option("--index", help="Index of the container if service has multiple replicas",
             type=int, default=1, metavar="int")  # fmt: skip
    ns = p.parse_until_positional(args)
    p.expect(ns.args, 2)
    cid = container_of(session, ns.args[0], ns.index)
    argv = ["-i"]
    if not ns.no_TTY and os.isatty(0):
        argv.append("-t")
    if ns.detach:
        argv.append("-d")
    for value in ns.env:
        argv += ["-e", value]
    if ns.user:
        argv += ["-u", ns.user]
    if ns.workdir:
        argv += ["-w", ns.workdir]
    from hatoba.cli.exec import run as exec_run

    return exec_run(session.ctx, [*argv, cid, *ns.args[1:]])


def run(session: Session, args: list[str]) -> int:
    p = Parser(session.prog, "[OPTIONS] SERVICE [COMMAND] [ARGS...]", "Run a one-off command")
    p.flag("-d", "--detach", help="Run container in background and print container ID")
    p.flag("--rm", help="Automatically remove the container when it exits")
    p.flag("-T", "--no-TTY", help="Disable pseudo-TTY allocation (default: auto-detected)")
    p.repeated("-e", "--env", help="Set environment variables")
    p.option("--name", help="Assign a name to the container", default="")
    p.option("--entrypoint", help="Override the entrypoint of the image", default=None)
    p.option("-u", "--user", help="Run as specified username or uid", default="")
    p.option("-w", "--workdir", help="Working directory inside the container", default="")
    p.flag("--no-deps", help="Don't start linked services")
    p.flag("--service-ports", help="Run command with the service's ports published")
    ns = p.parse_until_positional(args)
    p.expect(ns.args, 1)
    project = session.project((ns.args[0],))
    try:
        service = project.service(ns.args[0])
    except KeyError:
        raise CliError(f"no such service: {ns.args[0]}") from None
    deps = [d.service for d in service.depends_on]
    if service.shares_network_of:
        deps.append(service.shares_network_of)
    ids = (
        converge(session, project, UpOptions(services=tuple(deps)))
        if deps and not ns.no_deps
        else {}
    )
    _, missing, _ = plan_networks(project, [service], session.networks())
    for network in missing:
        session.client.call(
            "POST", "/networks/create", body=requests.network_body(project, network)
        )
    if any(m.name for m in service.volumes):
        volumes, _ = plan_volumes(project, [service], session.volumes())
        for volume in volumes:
            create_volume(session.client, project, volume, session.progress("Creating"))
    client = session.client
    name = ns.name or f"{project.name}-{service.name}-run-{secrets.token_hex(6)}"
    mode = ""
    if service.shares_network_of:
        shared = ids.get(service.shares_network_of) or []
        if not shared:
            raise CliError(
                f"cannot share network namespace with service {service.shares_network_of}"
            )
        mode = f"container:{shared[0]}"

    def first_container(shared: str) -> str:
        services = [c for c in session.containers(project.name) if not c.oneoff]
        found = ids.get(shared) or [
            c.id for c in sorted(services, key=lambda c: c.number) if c.service == shared
        ]
        if not found:
            raise CliError(f"cannot share volume with service {shared}: container missing")
        return found[0]

    tty = not ns.no_TTY and not ns.detach and os.isatty(0)
    body = requests.create_body(
        project,
        service,
        1,
        name,
        network_mode=mode,
        oneoff=True,
        command=tuple(ns.args[1:]) or None,
        entrypoint=None if ns.entrypoint is None else (ns.entrypoint,),
        auto_remove=ns.rm,
        interactive=not ns.detach,
        tty=tty,
        volumes_from=requests.volumes_from(service, first_container),
    )
    body["Env"] = [*(body["Env"] or []), *ns.env] or None
    if ns.user:
        body["User"] = ns.user
    if ns.workdir:
        body["WorkingDir"] = ns.workdir
    if not ns.service_ports:
        body["HostConfig"]["PortBindings"] = {}
    cid = client.json("POST", "/containers/create", {"name": name}, body)["Id"]
    if not mode and not service.network_mode:
        for extra in service.networks[1:]:
            target, connect = requests.connect_body(project, service, extra, name, cid)
            client.call("POST", f"/networks/{target}/connect", body=connect)
    path = f"/containers/{cid}"
    if ns.detach:
        client.call("POST", f"{path}/start")
        sys.stdout.write(name + "\n")
        return 0
    from hatoba.cli.attach import start_attached

    conn = client.hijack(
        "POST", f"{path}/attach", {"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1}
    )
    return start_attached(
        client,
        conn,
        path,
        tty=tty,
        stdin=True,
        removed=ns.rm,
        start=lambda: client.call("POST", f"{path}/start"),
    )
