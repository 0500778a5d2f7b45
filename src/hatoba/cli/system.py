"""`hatoba version|info|system reset|system firewall-reload|service`."""

from __future__ import annotations

import os
import sys

from hatoba import API_VERSION, __version__
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser, confirm
from hatoba.model.platforms import goarch

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context


def version(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Show the hatoba version information")
    p.option("-f", "--format", help="Format the output using the given Go template", default="")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    client = {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "PythonVersion": sys.version.split()[0],
        "Os": "linux",
        "Arch": goarch(os.uname().machine),
    }
    server = ctx.client.json("GET", "/version")
    if ns.format:
        from hatoba.cli.template import Template

        sys.stdout.write(Template(ns.format).render({"Client": client, "Server": server}) + "\n")
        return 0
    sys.stdout.write(version_text(client, server))
    return 0


def version_text(client: dict[str, Any], server: dict[str, Any]) -> str:
    minimum = server.get("MinAPIVersion")
    api = server.get("ApiVersion", "") + (f" (minimum version {minimum})" if minimum else "")
    return (
        "Client:\n"
        f" Version:           {client['Version']}\n"
        f" API version:       {client['ApiVersion']}\n"
        f" Python version:    {client['PythonVersion']}\n"
        f" OS/Arch:           {client['Os']}/{client['Arch']}\n"
        "\n"
        "Server:\n"
        " Engine:\n"
        f"  Version:          {server.get('Version', '')}\n"
        f"  API version:      {api}\n"
        f"  Runtime version:  {server.get('GoVersion', '')}\n"
        f"  OS/Arch:          {server.get('Os', '')}/{goarch(server.get('Arch', ''))}\n"
        f"  Kernel version:   {server.get('KernelVersion', '')}\n"
    )


def info(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Display system-wide information")
    p.option("-f", "--format", help="Format the output using the given Go template", default="")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    data = ctx.client.json("GET", "/info")
    if ns.format:
        from hatoba.cli.template import Template

        sys.stdout.write(Template(ns.format).render(data) + "\n")
        return 0
    sys.stdout.write(info_text(data, ctx))
    # as docker info: the service's warnings after the report, on stderr
    for warning in data.get("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    return 0


def info_text(data: dict[str, Any], ctx: Context) -> str:
    own = data.get("Hatoba") or {}
    drivers = (data.get("Plugins") or {}).get("Network") or []
    lines = [
        "Server:",
        f" Containers: {data.get('Containers', 0)}",
        f"  Running: {data.get('ContainersRunning', 0)}",
        f"  Paused: {data.get('ContainersPaused', 0)}",
        f"  Stopped: {data.get('ContainersStopped', 0)}",
        f" Images: {data.get('Images', 0)}",
        f" Networks: {data.get('Networks', 0)}",
        f" Server Version: {data.get('ServerVersion', '')}",
        f" Network drivers: {' '.join(drivers)}",
        f" Kernel Version: {data.get('KernelVersion', '')}",
        f" Operating System: {data.get('OperatingSystem', '')}",
        f" CPUs: {data.get('NCPU', 0)}",
        f" Root Dir: {own.get('Root') or data.get('DockerRootDir', '')}",
        f" Run Root Dir: {own.get('RunRoot') or ctx.run_root}",
        f" Socket: unix://{ctx.socket_path}",
        f" Service PID: {own.get('Pid', '')}",
        f" Config File: {own.get('ConfigFile') or 'none (defaults)'}",
        *_config_lines(own.get("Config") or {}),
    ]
    cluster = own.get("Cluster")
    if cluster:
        state = "connected" if cluster.get("Connected") else "unreachable"
        lines += [
            " Cluster:",
            f"  Store: {cluster.get('Store', '')} ({state})",
            f"  Host ID: {cluster.get('HostID', '')}",
            f"  Advertise Address: {cluster.get('Advertise', '')}",
            f"  Hosts: {len(cluster.get('Hosts') or [])}",
            *(
                f"   {h.get('ID', '')}  {h.get('Address', '')}  {h.get('Name', '')}"
                for h in cluster.get("Hosts") or []
            ),
        ]
    return "\n".join(lines) + "\n"


_HOSTS = "the host's"


def _config_lines(config: dict[str, Any]) -> list[str]:
    """daemon.json as in force, as docker info shows its parts."""
    lines = [" Default Address Pools:"]
    lines += [
        f"   Base: {p['base']}, Size: {p['size']}" for p in config.get("default-address-pools", [])
    ]
    keys = ("bip", "fixed-cidr", "fixed-cidr-v6", "mtu", "ip-masq", "icc")
    bridge = ", ".join(f"{key}={_shown(config.get(key))}" for key in keys)
    lines.append(f" Default Bridge: {bridge}")
    for label, key in (("DNS", "dns"), ("DNS Search", "dns-search")):
        lines.append(f" {label}: {', '.join(config.get(key) or []) or _HOSTS}")
    lines.append(f" IPv6: {_shown(config.get('ipv6', False))}")
    return lines


def _shown(value: Any) -> str:
    """A daemon.json value as docker info prints it ("" and 0: left to hatoba)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value else "auto"


_RESET_WARNING = (
    "WARNING! This will remove all hatoba state:\n"
    "  - all containers (running ones are killed)\n"
    "  - all networks, their bridges and firewall rules\n"
    "  - all images and volumes\n"
    "and stop the service.\n"
    "Are you sure you want to continue?"
)


def reset(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog, "[OPTIONS]", "Remove all hatoba state: containers, networks, images, volumes"
    )
    p.flag("-f", "--force", help="Do not prompt for confirmation")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not ns.force and not confirm(_RESET_WARNING):
        return 0
    ctx.client.call("POST", "/hatoba/system/reset")
    return 0


def firewall_reload(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "", "Rewrite hatoba's nftables table from its state")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    ctx.client.call("POST", "/hatoba/system/firewall-reload")
    return 0


def service(ctx: Context, args: list[str]) -> int:
    """Run the service in the foreground, with our roots; or write or remove its systemd unit."""
    if args[:1] in (["install"], ["uninstall"]):
        from hatoba.cli import systemd

        ctx.prog = f"{ctx.prog} {args[0]}"
        handler = systemd.install if args[0] == "install" else systemd.uninstall
        return handler(ctx, args[1:])
    # imported by name: the service pulls in asyncio and the whole engine, which the client
    # never loads (the import-linter contract "the CLI is a thin client" checks the rest);
    # importlib here, as it loads `warnings`, which `version` does not need
    import importlib

    try:
        module = importlib.import_module("hatoba.service")
    except ModuleNotFoundError as exc:
        if exc.name != "hatoba.service":
            raise
        raise CliError("hatoba: the service is not installed") from None
    debug = ["--debug"] if ctx.debug else []
    code: int = module.main(["--root", ctx.root, "--run-root", ctx.run_root, *debug, *args])
    return code
