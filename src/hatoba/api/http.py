"""HTTP/1.1 on a unix socket with asyncio and h11: plain, streamed and hijacked responses.

The Docker API upgrades some requests (attach, exec start) to a raw bidirectional stream
(`101 UPGRADED`), and the client half-closes its side when its stdin ends while output must
keep flowing. Frameworks get that wrong; h11 plus asyncio streams get it right.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

import h11

from hatoba import API_VERSION, MIN_API_VERSION
from hatoba.api import json_body
from hatoba.api.admission import MAX_PER_PEER, Admission, Peer, default_total
from hatoba.api.json_body import Json
from hatoba.errors import HatobaError, InvalidArgument, NotFound

log = logging.getLogger("hatoba.api")

_VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(?=/)")
_MAX_BODY = 64 << 20
# Docker's API server sets only ReadHeaderTimeout (5 minutes) and no idle timeout; a client
# sends a head in one write, and HTTP clients reconnect when an idle connection closes.
HEAD_TIMEOUT = 30.0
IDLE_TIMEOUT = 120.0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    # the body of a route registered with `body_file` (image archives), at offset 0
    body_file: IO[bytes] | None = None

    def older_than(self, version: str) -> bool:
        """Whether the client asked for an API version before `version` (/v1.xx/; one that
        names none gets this server's), for the answers Docker gives such clients."""
        m = _VERSION_PREFIX.match(self.path)
        asked = (int(m[1]), int(m[2])) if m else _version(API_VERSION)
        return asked < _version(version)

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return self.arg(name).lower() in ("1", "true", "yes")

    def bool_arg(self, name: str, default: bool) -> bool:
        """Docker's BoolValueOrDefault: absent or empty is `default`; false is 0, no, false
        or none (any case), anything else is true."""
        raw = self.arg(name).strip().lower()
        if not raw:
            return default
        return raw not in ("0", "no", "false", "none")

    def int_arg(self, name: str, default: int) -> int:
        """A whole number of 64 bits at most, as Go's strconv.Atoi reads it."""
        raw = self.arg(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {raw}") from None
        if not -(2**63) <= value < 2**63:
            raise InvalidArgument(f"invalid value for {name}: {raw}: value out of range")
        return value

    def json(self) -> Json:
        return json_body.parse(self.body)

    def filters(self) -> dict[str, list[str]]:
        """Docker's `filters` argument: {"name": {"x": true}} or {"name": ["x"]}; anything
        else is refused, as Docker's filters.FromJSON does."""
        raw = self.arg("filters")
        if not raw:
            return {}
        try:
            data = json_body.parse(raw.encode())
            return {key: _filter_values(values) for key, values in data.entries().items()}
        except InvalidArgument:
            raise InvalidArgument(f"invalid filter '{raw}'") from None


def _filter_values(values: Json) -> list[str]:
    if isinstance(values.value, dict):
        flags = values.entries()
        for flag in flags.values():
            flag.boolean()  # Docker's map[string]bool: the keys count, true or false
        return list(flags)
    return list(values.strings())


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode() + b"\n")

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", "")


@dataclass
class Streaming:
    """A body produced over time (logs -f, image progress), sent chunked."""

    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    # the head goes out with the first chunk, not at once (a `wait` before API 1.30)
    head_with_body: bool = False


class RawReader:
    """The client's side of a hijacked connection, starting with bytes h11 had buffered."""

    def __init__(self, prefix: bytes, reader: asyncio.StreamReader) -> None:
        self._prefix = prefix
        self._reader = reader

    async def read(self, n: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            return data
        return await self._reader.read(n)


# what Docker names every attach, exec and log stream up to API 1.41, framed or not (1.42
# brought application/vnd.docker.multiplexed-stream for the framed ones)
RAW_STREAM = "application/vnd.docker.raw-stream"


@dataclass
class Hijack:
    """Switch the connection to a raw stream and hand it to `run` (attach, exec start)."""

    run: Callable[[RawReader, asyncio.StreamWriter], Awaitable[None]]
    content_type: str = RAW_STREAM
    # called after the 101/200 is on the wire, before `run`
    on_switched: Callable[[], Awaitable[None]] | None = None


Result = Response | Streaming | Hijack
Handler = Callable[[Request], Awaitable[Result]]
BodyFile = Callable[[], IO[bytes]]


def _param(m: re.Match[str]) -> str:
    # `{name*}` may span slashes, as image names do (`/images/me/app:1/json`)
    return f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)"


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def unversioned(path: str) -> str:
    """The path without its /vX.Y prefix; a version this server does not speak is refused
    with Docker's words."""
    m = _VERSION_PREFIX.match(path)
    if m is None:
        return path
    asked = (int(m[1]), int(m[2]))
    version = f"{m[1]}.{m[2]}"
    if asked > _version(API_VERSION):
        raise InvalidArgument(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if asked < _version(MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return path[m.end() :]


def error_response(request: Request, status: int, message: str) -> Response:
    """Docker's error answer: JSON, or plain text for a client of API 1.23 or before (a
    version refused as too old included), as Go's http.Error writes it."""
    if request.older_than("1.24"):
        headers = [("X-Content-Type-Options", "nosniff")]
        return Response(status, message.encode() + b"\n", "text/plain; charset=utf-8", headers)
    return Response.json({"message": message}, status)


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler, BodyFile | None]] = []

    def add(
        self, method: str, pattern: str, handler: Handler, body_file: BodyFile | None = None
    ) -> None:
        """`body_file`: the request body goes to a file it makes, without a size cap."""
        regex = re.compile("^" + re.sub(r"\{(\w+)(\*?)\}", _param, pattern) + "$")
        self._routes.append((method, regex, handler, body_file))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        path = unversioned(path)
        for route_method, regex, handler, _ in self._routes:
            m = regex.match(path)
            if m and (route_method == method or (method == "HEAD" and route_method == "GET")):
                return handler, {k: unquote(v) for k, v in m.groupdict().items()}
        # a known path with another method too, as Docker's router answers it
        raise NotFound(f"page not found: {path}")

    def body_file(self, method: str, path: str) -> BodyFile | None:
        path = _VERSION_PREFIX.sub("", path)  # (a version out of range is refused at match)
        for route_method, regex, _, body_file in self._routes:
            if route_method == method and regex.match(path):
                return body_file
        return None


class Server:
    """Serves a Router on a unix socket, with bounded connections (see `admission`).

    A request head must be complete within `head_timeout` of the connection (of its first byte
    on a kept-alive connection), a kept-alive connection may wait `idle_timeout` for its next
    request, and a request body may stall that long; responses, streams and hijacked sessions
    are never cut.
    """

    def __init__(
        self,
        router: Router,
        extra_headers: list[tuple[str, str]],
        *,
        head_timeout: float = HEAD_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections_per_peer: int = MAX_PER_PEER,
        max_connections: int | None = None,
    ) -> None:
        self._router = router
        self._headers = extra_headers
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self.admission = Admission(
            max_connections_per_peer,
            max_connections if max_connections is not None else default_total(),
        )
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def listen(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._server = await asyncio.start_unix_server(self._serve, path=path, limit=1 << 20)
        os.chmod(path, 0o660)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer.of(writer.get_extra_info("socket"))
        refusal = self.admission.admit(peer)
        if refusal is not None:
            writer.write(self._refusal(refusal))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        connection = _Connection(self, reader, writer, task)
        try:
            await connection.run()
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.admission.release(peer)
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _refusal(self, message: str) -> bytes:
        """A whole 503 answer, sent before reading anything of the request."""
        body = json.dumps({"message": message}).encode() + b"\n"
        headers = [
            *self._headers,
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        return f"HTTP/1.1 503 Service Unavailable\r\n{head}\r\n".encode() + body


class _Connection:
    def __init__(
        self,
        server: Server,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        task: asyncio.Task[None],
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.task = task
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)

    async def next_event(self) -> Any:
        """The next event of a request body; the client may stall for the idle timeout."""
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(self.server.idle_timeout):
                data = await self.reader.read(1 << 16)
            self.conn.receive_data(data)

    async def next_head(self, fresh: bool) -> Any:
        """The next request head (or the end of the connection). A new connection must send
        it within the head timeout; a kept-alive one may first be idle for the idle timeout,
        and then has the head timeout from its first byte. Meanwhile the connection is one the
        server may close to make room for another."""
        server = self.server
        loop = asyncio.get_running_loop()
        begun = fresh or bool(self.conn.trailing_data[0])
        deadline = loop.time() + (server.head_timeout if begun else server.idle_timeout)
        server.admission.waiting(self, self.task.cancel)
        try:
            while True:
                event = self.conn.next_event()
                if event is not h11.NEED_DATA:
                    return event
                async with asyncio.timeout_at(deadline):
                    data = await self.reader.read(1 << 16)
                if data and not begun:
                    begun = True
                    deadline = loop.time() + server.head_timeout
                self.conn.receive_data(data)
        finally:
            server.admission.busy(self)

    async def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def run(self) -> None:
        fresh = True
        while True:
            try:
                event = await self.next_head(fresh)
                if not isinstance(event, h11.Request):
                    return  # the client closed, or an event h11 cannot start a request with
                request = await self.read_request(event)
            except h11.RemoteProtocolError as exc:
                await self.reject(exc.error_status_hint, f"invalid HTTP request: {exc}")
                return
            fresh = False
            try:
                if not await self.respond(request):
                    return
            finally:
                if request.body_file is not None:
                    request.body_file.close()
            if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is h11.MUST_CLOSE:
                return
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def reject(self, status: int, message: str) -> None:
        """Answer a request h11 could not read, when it is still our turn to answer."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = json.dumps({"message": message}).encode() + b"\n"
        headers = self.headers(
            "application/json", [("Content-Length", str(len(body))), ("Connection", "close")]
        )
        await self.send(h11.Response(status_code=status, headers=headers))
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def read_request(self, event: h11.Request) -> Request:
        target = event.target.decode()
        parts = urlsplit(target)
        method = event.method.decode()
        make_file = self.server._router.body_file(method, parts.path)
        file = make_file() if make_file is not None else None
        body = bytearray()
        try:
            while True:
                item = await self.next_event()
                if not isinstance(item, h11.Data):
                    break
                if file is not None:
                    file.write(item.data)
                    continue
                body += item.data
                if len(body) > _MAX_BODY:
                    raise h11.LocalProtocolError("body too large")
            if file is not None:
                file.seek(0)
        except BaseException:
            if file is not None:
                file.close()
            raise
        return Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            # header values may hold any octet (RFC 9110 obs-text): latin-1 reads them all
            headers={k.decode().lower(): v.decode("latin-1") for k, v in event.headers},
            body=bytes(body),
            body_file=file,
        )

    def headers(self, content_type: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        headers = list(self.server._headers)
        if content_type:
            headers.append(("Content-Type", content_type))
        return headers + extra

    async def respond(self, request: Request) -> bool:
        """Returns False when the connection must not be reused. A whole answer says how long
        the service took for it, from the request read to the answer ready (W3C
        `Server-Timing: app;dur=<ms>`, which Docker clients ignore): what `python -m bench`
        reports as the service's own time."""
        received = time.perf_counter()
        try:
            handler, request.params = self.server._router.match(request.method, request.path)
            result = await handler(request)
        except HatobaError as exc:
            result = error_response(request, exc.status, exc.message)
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.path)
            result = error_response(request, 500, str(exc))
        if isinstance(result, Hijack):
            await self.hijack(request, result)
            return False
        if isinstance(result, Streaming):
            return await self.stream(request, result)
        headers = self.headers(result.content_type, result.headers)
        if result.status not in (204, 304):
            headers.append(("Content-Length", str(len(result.body))))
        took = (time.perf_counter() - received) * 1000
        headers.append(("Server-Timing", f"app;dur={took:.3f}"))
        await self.send(h11.Response(status_code=result.status, headers=headers))
        if result.body and request.method != "HEAD" and result.status not in (204, 304):
            await self.send(h11.Data(data=result.body))
        await self.send(h11.EndOfMessage())
        return True

    async def stream(self, request: Request, result: Streaming) -> bool:
        """Send a body as it is produced, until it ends or the client goes away: a `wait` or
        `logs -f` whose client quit must not hold its connection until the container exits."""
        headers = self.headers(result.content_type, result.headers)
        head: h11.Response | None = h11.Response(status_code=result.status, headers=headers)
        if not result.head_with_body or request.method == "HEAD":
            await self.send(head)
            head = None
        if request.method == "HEAD":
            await _close_chunks(result.chunks)
            await self.send(h11.EndOfMessage())
            return True
        pump = asyncio.ensure_future(self._pump(result.chunks, head))
        watch = asyncio.ensure_future(self._until_client_leaves())
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            pump.cancel()
            await asyncio.wait((pump, watch))
        if not watch.cancelled():
            watch.exception()  # a reset from the client: it has left, nothing to report
        if pump.cancelled():
            return False
        error = pump.exception()
        if error is not None:
            with contextlib.suppress(Exception):
                await self.send(h11.EndOfMessage())
            raise error
        return True

    async def _pump(self, chunks: AsyncIterator[bytes], head: h11.Response | None) -> None:
        """`head`: the answer's head, when it has not been sent yet."""
        try:
            async for chunk in chunks:
                if head is not None:
                    await self.send(head)
                    head = None
                if chunk:
                    await self.send(h11.Data(data=chunk))
        finally:
            await _close_chunks(chunks)
        if head is not None:
            await self.send(head)
        await self.send(h11.EndOfMessage())

    async def _until_client_leaves(self) -> None:
        """Returns when the client closes its side; what it sends meanwhile (a pipelined next
        request) is kept for h11, up to the size of a head."""
        while data := await self.reader.read(1 << 16):
            self.conn.receive_data(data)
            if len(self.conn.trailing_data[0]) > 1 << 20:
                return

    async def hijack(self, request: Request, hijack: Hijack) -> None:
        upgrade = "upgrade" in request.headers.get("connection", "").lower()
        if upgrade:
            head = (
                "HTTP/1.1 101 UPGRADED\r\n"
                f"Content-Type: {hijack.content_type}\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            )
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {hijack.content_type}\r\n\r\n"
        self.writer.write(head.encode())
        await self.writer.drain()
        leftover, _closed = self.conn.trailing_data
        if hijack.on_switched is not None:
            await hijack.on_switched()
        await hijack.run(RawReader(bytes(leftover), self.reader), self.writer)


async def _close_chunks(chunks: AsyncIterator[bytes]) -> None:
    """Run an async generator's cleanup (open log files, temporary archives) now."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
