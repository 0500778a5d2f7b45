"""A simulated upstream resolver for sandboxes (the demo's "198.51.100.53").

Names under `example.test` get an A record (300 s), everything else NXDOMAIN, like a real
resolver that knows a few hosts. Runs as a child process in a sandbox namespace, UDP and TCP.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import dnslib

from hatoba.testing.sandbox import Sandbox

KNOWN_ADDRESS = "203.0.113.80"


def answer(data: bytes) -> bytes:
    query = dnslib.DNSRecord.parse(data)
    reply = query.reply(aa=0)
    name = str(query.q.qname).lower()
    if name.endswith("example.test."):
        if query.q.qtype == dnslib.QTYPE.A:
            reply.add_answer(dnslib.RR(name, rdata=dnslib.A(KNOWN_ADDRESS), ttl=300))
    else:
        reply.header.rcode = dnslib.RCODE.NXDOMAIN
    return bytes(reply.pack())


def _serve_udp(sock: socket.socket) -> None:
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            sock.sendto(answer(data), peer)
        except dnslib.DNSError:
            continue


def _serve_tcp(sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        with conn:
            size = int.from_bytes(conn.recv(2, socket.MSG_WAITALL), "big")
            try:
                out = answer(conn.recv(size, socket.MSG_WAITALL))
            except dnslib.DNSError:
                continue
            conn.sendall(len(out).to_bytes(2, "big") + out)


def serve(address: str) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen(16)
    threading.Thread(target=_serve_tcp, args=(tcp,), daemon=True).start()
    print("ready", flush=True)
    _serve_udp(udp)


def start_resolver(sb: Sandbox, address: str) -> None:
    """Run the resolver in the sandbox's outside namespace until the sandbox closes."""
    assert sb.outside is not None, "the sandbox needs with_outside=True"
    proc = sb.popen(
        [sys.executable, "-m", "hatoba.testing.resolver", address],
        ns=sb.outside,
        stdout=-1,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.stdout.readline().strip() != "ready":
        if proc.poll() is not None:
            raise RuntimeError("the simulated resolver did not start")


if __name__ == "__main__":
    serve(sys.argv[1])
