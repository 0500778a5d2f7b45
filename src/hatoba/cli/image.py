"""`hatoba images|import|load|save|rmi|tag` (also as `hatoba image ls|import|…`).

There is no registry: images come from tarballs (`import`) and archives (`load`).
Tarballs are sent as the request body, streamed from the file or from stdin.
"""

from __future__ import annotations

import os
import sys

from hatoba.cli.errors import CliError
from hatoba.cli.parsing import Parser, filters
from hatoba.cli.render import ago, go_time, human_size, listing, short_id
from hatoba.cli.stream import write_all
from hatoba.errors import HatobaError, NotFound

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from hatoba.cli.client import Response
    from hatoba.cli.context import Context

_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
}
_COLUMNS = ["Repository", "Tag", "ID", "CreatedSince", "Size"]


def images(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] [REPOSITORY[:TAG]]", "List images")
    p.flag("-a", "--all", help="Show all images (default hides intermediate images)")
    p.repeated(
        "-f", "--filter", help="Filter output based on conditions provided", metavar="filter"
    )
    p.option("--format", help="Pretty-print images using a Go template", default="")
    p.flag("--no-trunc", help="Don't truncate output")
    p.flag("-q", "--quiet", help="Only show image IDs")
    ns = p.parse(args)
    p.expect(ns.args, 0, 1)
    wanted = [*ns.filter, f"reference={ns.args[0]}"] if ns.args else ns.filter
    query = {"all": ns.all or None, "filters": filters(wanted, ctx.prog)}
    found = ctx.client.json("GET", "/images/json", query) or []
    found.sort(key=lambda i: i.get("Created") or 0, reverse=True)
    rows = [r for image in found for r in image_rows(image, truncate=not ns.no_trunc)]
    fmt = "{{.ID}}" if ns.quiet else ns.format
    sys.stdout.write(listing(rows, fmt, _COLUMNS, _HEADERS))
    return 0


def image_rows(image: dict[str, Any], *, truncate: bool) -> list[dict[str, str]]:
    """One row per tag (`<none>` for an untagged image), with docker's image fields."""
    ident = image.get("Id") or ""
    created = float(image.get("Created") or 0)
    common = {
        "ID": short_id(ident) if truncate else ident,
        "Digest": "<none>",
        "CreatedSince": ago(created),
        "CreatedAt": go_time(created),
        "Size": human_size(float(image.get("Size") or 0)),
        "Containers": "N/A",
    }
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    if not tags:
        return [{"Repository": "<none>", "Tag": "<none>", **common}]
    rows = []
    for reference in tags:
        repository, _, tag = reference.rpartition(":")
        rows.append({"Repository": repository, "Tag": tag, **common})
    return rows


def import_(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image",
    )
    p.repeated("-c", "--change", help="Apply Dockerfile instruction to the created image")
    p.option("-m", "--message", help="Set commit message for imported image", default="")
    p.option("--platform", help="Set platform if server is multi-platform capable", default="")
    ns = p.parse(args)
    p.expect(ns.args, 1, 2)
    source = ns.args[0]
    query = {
        "fromSrc": "-" if not source.startswith(("http://", "https://")) else source,
        "repo": ns.args[1] if len(ns.args) > 1 else "",
        "tag": "",
        "message": ns.message,
        "platform": ns.platform.lower() or None,
        "changes": ns.change,
    }
    if query["fromSrc"] != "-":
        response = ctx.client.request("POST", "/images/create", query)
    else:
        with _opened(source) as fd:
            response = ctx.client.request("POST", "/images/create", query, upload=fd)
    print_messages(response)
    return 0


def load(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS]", "Load an image from a tar archive or STDIN")
    p.option("-i", "--input", help="Read from tar archive file, instead of STDIN", default="")
    p.flag("-q", "--quiet", help="Suppress the load output")
    ns = p.parse(args)
    p.expect(ns.args, 0, 0)
    if not ns.input and os.isatty(0):
        raise CliError("requested load from stdin, but stdin is empty")
    quiet = ns.quiet or not os.isatty(1)
    with _opened(ns.input or "-") as fd:
        response = ctx.client.request("POST", "/images/load", {"quiet": quiet}, upload=fd)
    if response.headers.get("content-type", "").startswith("application/json"):
        print_messages(response)
    else:
        sys.stdout.flush()
        for chunk in response.chunks():
            write_all(1, chunk)
    return 0


class _opened:
    """A file's descriptor for reading, `-` being stdin; `open x: no such file or directory`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = 0

    def __enter__(self) -> int:
        if self.path != "-":
            try:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise CliError(f"open {self.path}: {_reason(exc)}") from None
        return self.fd

    def __exit__(self, *exc: object) -> None:
        if self.fd != 0:
            os.close(self.fd)


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def print_messages(response: Response) -> None:
    """docker's jsonmessage stream, as printed when the output is not a terminal."""
    out = sys.stdout
    for message in response.json_lines():
        error = message.get("errorDetail") or (
            {"message": message["error"]} if "error" in message else None
        )
        if error:
            out.flush()
            raise CliError(error.get("message") or "unknown error", int(error.get("code") or 1))
        if "stream" in message:
            out.write(message["stream"])
        elif "status" in message:
            prefix = f"{message['id']}: " if message.get("id") else ""
            progress = f" {message['progress']}" if message.get("progress") else ""
            out.write(f"{prefix}{message['status']}{progress}\n")
    out.flush()


def save(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "[OPTIONS] IMAGE [IMAGE...]",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
    )
    p.option("-o", "--output", help="Write to a file, instead of STDOUT", default="")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    if not ns.output and os.isatty(1):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    response = ctx.client.request("GET", "/images/get", {"names": ns.args})
    write_archive(response.chunks(), ns.output, "failed to save image")
    return 0


def write_archive(chunks: Iterator[bytes], output: str, failure: str) -> None:
    """An archive to stdout, or to `output` through a temporary file renamed into place: a
    failed copy leaves no partial archive behind (docker's CopyToFile)."""
    if not output:
        sys.stdout.flush()
        for chunk in chunks:
            write_all(1, chunk)
        return
    temporary = f"{output}.hatoba-{os.getpid()}"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CliError(f"{failure}: open {temporary}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise


def rmi(ctx: Context, args: list[str]) -> int:
    p = Parser(ctx.prog, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images")
    p.flag("-f", "--force", help="Force removal of the image")
    p.flag("--no-prune", help="Do not delete untagged parents")
    ns = p.parse(args)
    p.expect(ns.args, 1)
    query = {"force": ns.force or None, "noprune": ns.no_prune or None}
    errors = []
    fatal = False
    for name in ns.args:
        try:
            removed = ctx.client.json("DELETE", f"/images/{name}", query) or []
        except NotFound:
            errors.append(f"Error: No such image: {name}")
            continue
        except HatobaError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
            fatal = True
            continue
        for item in removed:
            if item.get("Deleted"):
                sys.stdout.write(f"Deleted: {item['Deleted']}\n")
            else:
                sys.stdout.write(f"Untagged: {item.get('Untagged', '')}\n")
    if errors:
        message = "\n".join(errors)
        if not ns.force or fatal:
            raise CliError(message)
        sys.stdout.flush()
        sys.stderr.write(message + "\n")
    return 0


def tag(ctx: Context, args: list[str]) -> int:
    p = Parser(
        ctx.prog,
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    )
    ns = p.parse(args)
    p.expect(ns.args, 2, 2)
    source, target = ns.args
    if "@" in target:
        raise CliError("refusing to create a tag with a digest reference")
    repository, tag_name = target, ""
    last = target.rpartition("/")[2]
    if ":" in last:
        repository, _, tag_name = target.rpartition(":")
    ctx.client.call("POST", f"/images/{source}/tag", {"repo": repository, "tag": tag_name})
    return 0
