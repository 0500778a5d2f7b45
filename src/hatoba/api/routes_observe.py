"""hatoba's own observation endpoints: capture (pcapng over a hijacked connection), trace and
explain (JSON lines over a hijacked connection: progress, then the timeline or the verdict),
and the network topology (JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hatoba.api.capture import capture_target, open_capture, stream
from hatoba.api.http import Hijack, RawReader, Request, Response, Router
from hatoba.api.ports import Instruments
from hatoba.api.streams import close_writer
from hatoba.api.tracing import TraceRequest, observe, planned, segment_handles
from hatoba.engine import resolver
from hatoba.errors import HatobaError
from hatoba.observe.plan import NameNotFound
from hatoba.observe.topology import HostView
from hatoba.observe.topology_build import build
from hatoba.observe.verdict import explain as verdict_of
from hatoba.observe.verdict import not_sent

if TYPE_CHECKING:
    from hatoba.api.app import App

log = logging.getLogger("hatoba.api")
PCAPNG = "application/x-pcapng"
JSON_LINES = "application/x-ndjson"
DEFAULT_SNAPLEN = 262144


def register(router: Router, app: App) -> None:
    def instruments() -> Instruments:
        if app.instruments is None:
            raise HatobaError("this service has no packet instruments")
        return app.instruments

    async def capture(req: Request) -> Hijack:
        target = capture_target(
            app.engine.state,
            container=req.arg("container"),
            network=req.arg("network"),
            interface=req.arg("interface"),
            netns=req.arg("netns"),
            segments_dir=str(app.engine.core.paths.netns_dir),
        )
        count = req.int_arg("count", 0)
        tap = await open_capture(
            instruments(), target, req.arg("filter"), req.int_arg("snaplen", DEFAULT_SNAPLEN)
        )

        async def run(client: RawReader, writer: asyncio.StreamWriter) -> None:
            await stream(tap, target, client, writer, count)

        return Hijack(run, content_type=PCAPNG)

    def trace_request(req: Request, *, explain: bool = False) -> TraceRequest:
        return TraceRequest(
            source=req.arg("from"),
            target=req.arg("to"),
            proto=req.arg("proto") or None,
            wait=req.flag("wait"),
            timeout=float(req.int_arg("timeout", 30)),
            explain=explain,
        )

    async def trace(req: Request) -> Hijack:
        request = trace_request(req)
        tools = instruments()
        route = await planned(app.engine.core, tools, request)

        async def work(progress: Callable[[str], Awaitable[None]]) -> dict[str, Any]:
            seen = await observe(tools, route, request, progress)
            return {"timeline": seen.timeline().to_json()}

        return Hijack(_json_lines(work), content_type=JSON_LINES)

    async def explain(req: Request) -> Hijack:
        request = trace_request(req, explain=True)
        tools = instruments()
        state = app.engine.state
        try:
            route = await planned(app.engine.core, tools, request)
        except NameNotFound as exc:
            text = f"{request.source} → {request.target}"
            verdict = not_sent(text, exc.message)

            async def told(progress: Callable[[str], Awaitable[None]]) -> dict[str, Any]:
                return {"verdict": verdict.to_json()}

            return Hijack(_json_lines(told), content_type=JSON_LINES)
        bridges = {n.bridge: n.name for n in state.networks.values() if n.bridge}

        async def work(progress: Callable[[str], Awaitable[None]]) -> dict[str, Any]:
            seen = await observe(tools, route, request, progress)
            verdict = verdict_of(
                seen.route,
                seen.flow,
                seen.timeline(),
                seen.hits,
                seen.drops,
                seen.conntrack,
                seen.frames,
                probe_error=seen.probe.error if seen.probe is not None else "",
                networks_by_bridge=bridges,
                texts=seen.texts,
            )
            return {"verdict": verdict.to_json()}

        return Hijack(_json_lines(work), content_type=JSON_LINES)

    async def topology(req: Request) -> Response:
        state = app.engine.state
        records, _gateways = resolver.records(state)
        names = {(r.container_id, r.network_id): r.names for r in records}
        host = HostView()
        if app.instruments is not None:
            segments = segment_handles(state, app.engine.core.paths)
            host = await asyncio.to_thread(app.instruments.host_view, segments)
        drawn = build(state.networks.values(), state.containers.values(), names, host)
        return Response.json(drawn.to_json())

    router.add("POST", "/hatoba/capture", capture)
    router.add("POST", "/hatoba/trace", trace)
    router.add("POST", "/hatoba/explain", explain)
    router.add("GET", "/hatoba/topology", topology)


def _json_lines(
    work: Callable[[Callable[[str], Awaitable[None]]], Awaitable[dict[str, Any]]],
) -> Callable[[RawReader, asyncio.StreamWriter], Awaitable[None]]:
    """A hijacked answer: {"progress": …} lines while `work` runs, then its result (or
    {"error": …}); the client closing its side cancels the work."""

    async def run(client: RawReader, writer: asyncio.StreamWriter) -> None:
        async def send(doc: dict[str, Any]) -> None:
            writer.write(json.dumps(doc).encode() + b"\n")
            await writer.drain()

        async def progress(text: str) -> None:
            await send({"progress": text})

        task = asyncio.ensure_future(work(progress))
        gone = asyncio.ensure_future(client.read(1))
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                task.cancel()  # the client went away: disarm and stop
                with contextlib.suppress(asyncio.CancelledError, HatobaError):
                    await task
                return
            try:
                await send(task.result())
            except HatobaError as exc:
                await send({"error": exc.message})
            except Exception as exc:
                log.exception("trace failed")
                await send({"error": f"trace failed: {exc}"})
        except ConnectionError:
            pass
        finally:
            gone.cancel()
            await close_writer(writer)

    return run
