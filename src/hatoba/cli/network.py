"""`hatoba network ls|create|inspect|rm|connect|disconnect|prune`."""

from __future__ import annotations

import sys

from hatoba.cli import inspect as inspecting
from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser, confirm, filters, key_values
from hatoba.cli.render import go_rfc3339, go_value, listing, short_id
from hatoba.errors import HatobaError, NotFound

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from hatoba.cli.context import Context

_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
_COLUMNS = ["ID", "Name", "Driver", "Scope"]


def ls(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "List networks")
    p.repeated(
        "-f", "--filter", help="Provide filter values (e.g. 'driver=bridge')", metavar="filter"
    )
    p.option("--format", help="Pretty-print networks using a Go template", default="")
    p.flag("--no-trunc", help="Do not truncate the output")
    p.flag("-q", "--quiet", help="Only display network IDs")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    networks = ctx.client.json("GET", "/networks", {"filters": filters(ns.filter, ctx.prog)})
    networks.sort(key=lambda n: n["Name"])
    rows = [row(n, truncate=not ns.no_trunc) for n in networks]
    fmt = "{{.ID}}" if ns.quiet else ns.format
    sys.stdout.write(listing(rows, fmt, _COLUMNS, _HEADERS))
    return 0


def row(network: dict[str, Any], *, truncate: bool) -> dict[str, str]:
    """The fields docker's network formatter offers to templates."""
    labels = network.get("Labels") or {}
    return {
        "ID": short_id(network["Id"]) if truncate else network["Id"],
        "Name": network["Name"],
        "Driver": network.get("Driver", ""),
        "Scope": network.get("Scope", ""),
        "IPv6": go_value(bool(network.get("EnableIPv6"))),
        "Internal": go_value(bool(network.get("Internal"))),
        "Labels": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        "CreatedAt": go_rfc3339(network.get("Created", "")),
    }


def create(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] NETWORK", "Create a network")
    p.option(
        "-d", "--driver", help='Driver to manage the Network (default "bridge")', default="bridge"
    )
    p.repeated("--subnet", help="Subnet in CIDR format that represents a network segment")
    p.repeated("--gateway", help="IPv4 or IPv6 Gateway for the master subnet")
    p.repeated("--ip-range", help="Allocate container ip from a sub-range")
    p.repeated(
        "--aux-address",
        help="Auxiliary IPv4 or IPv6 addresses used by Network driver",
        metavar="map",
    )
    p.repeated("-o", "--opt", help="Set driver specific options", metavar="map")
    p.repeated("--label", help="Set metadata on a network")
    p.option(
        "--ipam-driver", help='IP Address Management Driver (default "default")', default="default"
    )
    p.repeated("--ipam-opt", help="Set IPAM driver specific options", metavar="map")
    p.flag("--internal", help="Restrict external access to the network")
    p.flag("--attachable", help="Enable manual container attachment")
    p.flag("--ipv4", help="Enable or disable IPv4 address assignment (default true)", default=True)
    p.flag("--ipv6", help="Enable or disable IPv6 address assignment")
    ns = p.parse(args)
    p.expect(ns.args, 1, 1)
    body = {
        "Name": ns.args[0],
        "CheckDuplicate": True,
        "Driver": ns.driver,
        "Scope": "",
        "EnableIPv6": ns.ipv6,
        **({} if ns.ipv4 else {"EnableIPv4": False}),
        "IPAM": {
            "Driver": ns.ipam_driver,
            "Config": ipam_config(ns.subnet, ns.ip_range, ns.gateway, key_values(ns.aux_address)),
            "Options": key_values(ns.ipam_opt),
        },
        "Internal": ns.internal,
        "Attachable": ns.attachable,
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": key_values(ns.opt),
        "Labels": key_values(ns.label),
    }
    created = ctx.client.json("POST", "/networks/create", body=body)
    for warning in (created.get("Warning") or "").splitlines():
        sys.stderr.write(f"WARNING: {warning}\n")
    sys.stdout.write(created["Id"] + "\n")
    return 0


def ipam_config(
    subnets: list[str], ranges: list[str], gateways: list[str], aux: dict[str, str]
) -> list[dict[str, Any]]:
    """docker's consolidateIpam: each range, gateway and aux address joins the subnet holding it."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise CliError("every ip-range or gateway must have a corresponding subnet")
    if not subnets and aux:
        raise CliError("every ip-range or gateway must have a corresponding subnet")
    import ipaddress

    def network_of(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise CliError(f"invalid subnet: invalid CIDR address: {text}") from None

    def holder(value: str, what: str) -> str:
        try:
            address = ipaddress.ip_address(value.split("/")[0])
        except ValueError:
            raise CliError(f"invalid CIDR address: {value}") from None
        for subnet in subnets:
            if address in network_of(subnet):
                return subnet
        raise CliError(f"no matching subnet for {what} {value}")

    configs: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        net = network_of(subnet)
        if any(net.overlaps(network_of(other)) for other in configs):
            raise CliError("multiple overlapping subnet configuration is not supported")
        configs[subnet] = {"Subnet": subnet}
    for value in ranges:
        config = configs[holder(value, "range")]
        if "IPRange" in config:
            raise CliError(
                f"cannot configure multiple ranges ({value}, {config['IPRange']}) "
                f"on the same subnet ({config['Subnet']})"
            )
        config["IPRange"] = value
    for value in gateways:
        config = configs[holder(value, "gateway")]
        if "Gateway" in config:
            raise CliError(
                f"cannot configure multiple gateways ({value}, {config['Gateway']}) "
                f"for the same subnet ({config['Subnet']})"
            )
        config["Gateway"] = value
    for key, value in aux.items():
        configs[holder(value, "aux-address")].setdefault("AuxiliaryAddresses", {})[key] = value
    return list(configs.values())


def inspect(ctx: Context, args: list[str]) -> int:
    p = inspecting.parser(ctx, "NETWORK", "Display detailed information on one or more networks")
    p.flag("-v", "--verbose", help="Verbose output for diagnostics")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return inspecting.show(ctx, ns.args, ns.format, "network", inspecting.network)


def rm(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "NETWORK [NETWORK...]", "Remove one or more networks")
    p.flag("-f", "--force", help="Do not error if the network does not exist")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    status = 0
    for name in ns.args:
        try:
            ctx.client.call("DELETE", f"/networks/{name}")
        except NotFound:
            if ns.force:
                continue
            status = _report(f"Error: No such network: {name}")
        except HatobaError as exc:
            status = _report(f"Error response from daemon: {exc.message}")
        else:
            sys.stdout.write(name + "\n")
    return status


def _report(message: str) -> int:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    return 1


def connect(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network")
    p.repeated("--alias", help="Add network-scoped alias for the container", metavar="strings")
    p.option("--ip", help="IPv4 address (e.g., 172.30.100.104)", default="")
    p.option("--ip6", help="IPv6 address (e.g., 2001:db8::33)", default="")
    p.repeated("--driver-opt", help="driver options for the network", metavar="strings")
    ns = p.parse(args)
    p.expect(ns.args, 2, 2)
    ipam = {k: v for k, v in (("IPv4Address", ns.ip), ("IPv6Address", ns.ip6)) if v}
    endpoint = {
        "IPAMConfig": ipam,
        "Links": None,
        "Aliases": ns.alias or None,
        "DriverOpts": key_values(ns.driver_opt),
    }
    network, container = ns.args
    body = {"Container": container, "EndpointConfig": endpoint}
    ctx.client.call("POST", f"/networks/{network}/connect", body=body)
    return 0


def disconnect(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network")
    p.flag("-f", "--force", help="Force the container to disconnect from a network")
    ns = p.parse(args)
    p.expect(ns.args, 2, 2)
    network, container = ns.args
    body = {"Container": container, "Force": ns.force}
    ctx.client.call("POST", f"/networks/{network}/disconnect", body=body)
    return 0


_PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue?"
)


def prune(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Remove all unused networks")
    p.repeated(
        "--filter", help="Provide filter values (e.g. 'until=<timestamp>')", metavar="filter"
    )
    p.flag("-f", "--force", help="Do not prompt for confirmation")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not ns.force and not confirm(_PRUNE_WARNING):
        return 0
    report = ctx.client.json("POST", "/networks/prune", {"filters": filters(ns.filter, ctx.prog)})
    deleted = (report or {}).get("NetworksDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted) + "\n")
    return 0
