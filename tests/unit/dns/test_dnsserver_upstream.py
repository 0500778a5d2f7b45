"""Asking upstream servers, against fake servers on this namespace's loopback (no root)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import dnslib
import pytest
from dns_helpers import query

from hatoba.dns import Upstream, wire
from hatoba.dnsserver.upstream import Egress, ask_upstreams
from hatoba.errors import InvalidArgument

Behaviour = Callable[[dnslib.DNSRecord], list[bytes]]


def answer(request: dnslib.DNSRecord) -> list[bytes]:
    reply = request.reply(aa=0)
    reply.add_answer(dnslib.RR(request.q.qname, rdata=dnslib.A("192.0.2.7"), ttl=60))
    return [bytes(reply.pack())]


def rcode(code: int) -> Behaviour:
    def behave(request: dnslib.DNSRecord) -> list[bytes]:
        reply = request.reply(aa=0)
        reply.header.rcode = code
        return [bytes(reply.pack())]

    return behave


def spoof_first(request: dnslib.DNSRecord) -> list[bytes]:
    wrong_id = dnslib.DNSRecord.parse(answer(request)[0])
    wrong_id.header.id ^= 0xFFFF
    other_question = dnslib.DNSRecord.question("evil.example").reply()
    other_question.header.id = request.header.id
    return [bytes(wrong_id.pack()), bytes(other_question.pack()), *answer(request)]


def silent(request: dnslib.DNSRecord) -> list[bytes]:
    return []


class FakeServer(asyncio.DatagramProtocol):
    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.asked = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.asked += 1
        for out in self.behave(dnslib.DNSRecord.parse(data)):
            self.transport.sendto(out, addr)  # type: ignore[attr-defined]


_transports: list[asyncio.BaseTransport] = []


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def closing() -> None:
        try:
            await main()
        finally:
            while _transports:
                _transports.pop().close()

    asyncio.run(closing())


async def serve(behave: Behaviour) -> tuple[FakeServer, Upstream]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        lambda: FakeServer(behave), local_addr=("127.0.0.1", 0)
    )
    _transports.append(transport)
    port = transport.get_extra_info("sockname")[1]
    return server, Upstream("127.0.0.1", port, from_host=True)


async def ask(
    upstreams: list[Upstream], *, tcp: bool = False, timeout: float = 1.0
) -> bytes | None:
    parsed = wire.parse_query(query("www.example.org"))
    assert isinstance(parsed, wire.Query)
    egress = Egress(asyncio.get_running_loop(), None)
    return await ask_upstreams(
        parsed, upstreams, tcp=tcp, host=egress, container=egress, timeout=timeout
    )


def test_servfail_and_refused_mean_try_the_next() -> None:
    async def main() -> None:
        failing, a = await serve(rcode(2))
        refusing, b = await serve(rcode(5))
        good, c = await serve(answer)
        reply = await ask([a, b, c])
        assert reply is not None
        assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(reply).rr] == ["192.0.2.7"]
        assert (failing.asked, refusing.asked, good.asked) == (1, 1, 1)

    run(main)


def test_nxdomain_is_an_answer() -> None:
    async def main() -> None:
        _, a = await serve(rcode(3))
        good, b = await serve(answer)
        reply = await ask([a, b])
        assert reply is not None and wire.rcode_of(reply) == 3
        assert good.asked == 0

    run(main)


def test_replies_with_another_id_or_question_are_ignored() -> None:
    async def main() -> None:
        _, a = await serve(spoof_first)
        reply = await ask([a])
        assert reply is not None
        assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(reply).rr] == ["192.0.2.7"]

    run(main)


def test_at_most_three_servers_each_with_its_timeout() -> None:
    async def main() -> None:
        servers = [await serve(silent) for _ in range(4)]
        started = time.monotonic()
        assert await ask([u for _, u in servers], timeout=0.2) is None
        assert 0.6 <= time.monotonic() - started < 1.0
        assert [s.asked for s, _ in servers] == [1, 1, 1, 0]

    run(main)


def test_a_closed_port_fails_at_once() -> None:
    async def main() -> None:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        closed = Upstream("127.0.0.1", probe.getsockname()[1], from_host=True)
        probe.close()
        _, b = await serve(answer)
        started = time.monotonic()
        assert await ask([closed, b], timeout=2) is not None
        assert time.monotonic() - started < 1

    run(main)


def test_tcp_queries_use_a_connection_with_length_prefix() -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            size = int.from_bytes(await reader.readexactly(2), "big")
            out = answer(dnslib.DNSRecord.parse(await reader.readexactly(size)))[0]
            writer.write(len(out).to_bytes(2, "big") + out)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reply = await ask([Upstream("127.0.0.1", port, from_host=True)], tcp=True)
        assert reply is not None
        assert [str(rr.rdata) for rr in dnslib.DNSRecord.parse(reply).rr] == ["192.0.2.7"]

    run(main)


@pytest.mark.parametrize(("address", "port"), [("dns.google", 53), ("10.0.0.1", 0), ("::1", 70000)])
def test_bad_upstreams_are_refused(address: str, port: int) -> None:
    with pytest.raises(InvalidArgument):
        Upstream(address, port)


def test_ipv6_upstreams_are_accepted() -> None:
    assert Upstream("2001:db8::53").ipv6
    assert Upstream("2001:DB8:0::53").endpoint == ("2001:db8::53", 53)
