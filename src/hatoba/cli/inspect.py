"""`inspect`: objects as Docker-shaped JSON, or through a `--format` template."""

from __future__ import annotations

import sys

from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser
from hatoba.cli.render import to_json
from hatoba.errors import HatobaError, NotFound

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hatoba.cli.client import Client
    from hatoba.cli.context import Context

    Fetch = Callable[[Client, str], Any]


def container(client: Client, name: str) -> Any:
    return client.json("GET", f"/containers/{name}/json")


def image(client: Client, name: str) -> Any:
    return client.json("GET", f"/images/{name}/json")


def network(client: Client, name: str) -> Any:
    return client.json("GET", f"/networks/{name}")


def volume(client: Client, name: str) -> Any:
    return client.json("GET", f"/volumes/{name}")


# `hatoba inspect NAME` tries these in docker's order
_KINDS: dict[str, Fetch] = {
    "container": container,
    "image": image,
    "network": network,
    "volume": volume,
}


def parser(ctx: Context, what: str, description: str) -> Parser:
    p = Parser(ctx.prog, f"[OPTIONS] {what} [{what}...]", description)
    p.option("-f", "--format", help="Format the output using the given Go template")
    return p


def show(ctx: Context, names: list[str], fmt: str | None, kind: str, fetch: Fetch) -> int:
    """Print what `fetch` finds for each name; `Error: No such <kind>: <name>` for the rest."""
    found = []
    errors = []
    for name in names:
        try:
            found.append(fetch(ctx.client, name))
        except NotFound:
            errors.append(f"Error: No such {kind}: {name}")
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
    write(found, fmt)
    if errors:
        raise CliError("\n".join(errors))
    return 0


def write(objects: list[Any], fmt: str | None) -> None:
    if fmt:
        from hatoba.cli.template import Template

        template = Template(fmt)
        sys.stdout.write("".join(template.render(obj) + "\n" for obj in objects))
    else:
        sys.stdout.write(to_json(objects, indent=4) + "\n")


def inspect(ctx: Context, args: list[str]) -> int:
    p = parser(ctx, "NAME|ID", "Return low-level information on hatoba objects")
    p.option("--type", help="Return JSON for specified type", default="")
    p.flag("-s", "--size", help="Display total file sizes if the type is container")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    if ns.type:
        if ns.type not in _KINDS:
            raise CliError(f'"{ns.type}" is not a valid value for --type')
        return show(ctx, ns.args, ns.format, ns.type, _KINDS[ns.type])
    return show(ctx, ns.args, ns.format, "object", _any_kind)


def _any_kind(client: Client, name: str) -> Any:
    for fetch in _KINDS.values():
        try:
            return fetch(client, name)
        except NotFound:
            continue
    raise NotFound(name)


def containers(ctx: Context, args: list[str]) -> int:
    p = parser(ctx, "CONTAINER", "Display detailed information on one or more containers")
    p.flag("-s", "--size", help="Display total file sizes")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return show(ctx, ns.args, ns.format, "container", container)


def images(ctx: Context, args: list[str]) -> int:
    p = parser(ctx, "IMAGE", "Display detailed information on one or more images")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    return show(ctx, ns.args, ns.format, "image", image)
