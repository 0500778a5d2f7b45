"""hatoba's own observation endpoints: capture (pcapng over a hijacked connection)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hatoba.api.capture import capture_target, open_capture, stream
from hatoba.api.http import Hijack, RawReader, Request, Router
from hatoba.api.ports import Instruments
from hatoba.errors import HatobaError

if TYPE_CHECKING:
    from hatoba.api.app import App

PCAPNG = "application/x-pcapng"
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
        )
        count = req.int_arg("count", 0)
        tap = await open_capture(
            instruments(), target, req.arg("filter"), req.int_arg("snaplen", DEFAULT_SNAPLEN)
        )

        async def run(client: RawReader, writer: asyncio.StreamWriter) -> None:
            await stream(tap, target, client, writer, count)

        return Hijack(run, content_type=PCAPNG)

    router.add("POST", "/hatoba/capture", capture)
