"""The simulated upstream resolver of sandboxes: the demo's "198.51.100.53", the DNS tests' ones.

Names under `example.test` get an A and an AAAA record (300 s), `big.example.test` TXT is
larger than 512 bytes (truncated over UDP unless the asker's EDNS size allows it), everything
else NXDOMAIN, like a real resolver that knows a few hosts; with --servfail every query gets
SERVFAIL. With --log, each query is appended to the file as "<udp|tcp> <source address>
<name> <type>". Runs as a child process in a sandbox namespace, UDP and TCP, on an IPv4 or an
IPv6 address:

    python -m hatoba.testing.resolver ADDRESS [--port N] [--answer IP] [--servfail] [--log FILE]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import dnslib

from hatoba.testing.sandbox import Sandbox

KNOWN_ADDRESS = "203.0.113.80"
KNOWN_ADDRESS6 = "2001:db8:80::80"


@dataclass(frozen=True)
class _Behaviour:
    answer: str
    servfail: bool
    log: str | None


def _reply(query: dnslib.DNSRecord, behaviour: _Behaviour) -> dnslib.DNSRecord:
    reply = query.reply(aa=0)
    name = str(query.q.qname).lower()
    if behaviour.servfail:
        reply.header.rcode = dnslib.RCODE.SERVFAIL
    elif name == "big.example.test." and query.q.qtype == dnslib.QTYPE.TXT:
        for i in range(6):
            text = dnslib.TXT("x" * 200 + str(i))
            reply.add_answer(dnslib.RR(name, dnslib.QTYPE.TXT, rdata=text, ttl=300))
    elif name.endswith("example.test."):
        if query.q.qtype == dnslib.QTYPE.A:
            reply.add_answer(dnslib.RR(name, rdata=dnslib.A(behaviour.answer), ttl=300))
        elif query.q.qtype == dnslib.QTYPE.AAAA:
            rdata = dnslib.AAAA(KNOWN_ADDRESS6)
            reply.add_answer(dnslib.RR(name, dnslib.QTYPE.AAAA, rdata=rdata, ttl=300))
    else:
        reply.header.rcode = dnslib.RCODE.NXDOMAIN
    return reply


def _log(behaviour: _Behaviour, proto: str, source: str, query: dnslib.DNSRecord) -> None:
    if behaviour.log is None:
        return
    line = f"{proto} {source} {str(query.q.qname).lower()} {dnslib.QTYPE[query.q.qtype]}\n"
    with open(behaviour.log, "a", encoding="utf-8") as f:
        f.write(line)


def _serve_udp(sock: socket.socket, behaviour: _Behaviour) -> None:
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            query = dnslib.DNSRecord.parse(data)
        except dnslib.DNSError:
            continue
        _log(behaviour, "udp", peer[0], query)
        reply = _reply(query, behaviour)
        out = bytes(reply.pack())
        opts = [rr for rr in query.ar if rr.rtype == dnslib.QTYPE.OPT]
        if len(out) > max(512, opts[0].rclass if opts else 512):
            out = bytes(reply.truncate().pack())
        sock.sendto(out, peer)


def _serve_tcp(sock: socket.socket, behaviour: _Behaviour) -> None:
    while True:
        conn, peer = sock.accept()
        with conn:
            size = int.from_bytes(conn.recv(2, socket.MSG_WAITALL), "big")
            try:
                query = dnslib.DNSRecord.parse(conn.recv(size, socket.MSG_WAITALL))
            except dnslib.DNSError:
                continue
            _log(behaviour, "tcp", peer[0], query)
            out = bytes(_reply(query, behaviour).pack())
            conn.sendall(len(out).to_bytes(2, "big") + out)


def serve(address: str, port: int, behaviour: _Behaviour) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((address, port))
    tcp = socket.socket(family, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, port))
    tcp.listen(16)
    threading.Thread(target=_serve_tcp, args=(tcp, behaviour), daemon=True).start()
    print("ready", flush=True)
    _serve_udp(udp, behaviour)


def command(
    address: str,
    *,
    port: int = 53,
    answer: str = KNOWN_ADDRESS,
    servfail: bool = False,
    log: Path | None = None,
) -> list[str]:
    """The argv that runs the resolver (it prints "ready" once it listens)."""
    argv = [sys.executable, "-m", "hatoba.testing.resolver", address]
    argv += ["--port", str(port), "--answer", answer]
    if servfail:
        argv.append("--servfail")
    if log is not None:
        argv += ["--log", str(log)]
    return argv


@dataclass
class Resolver:
    """A resolver running in a sandbox namespace and, with a log, what it was asked."""

    process: subprocess.Popen[str]
    log: Path | None

    def queries(self) -> list[list[str]]:
        """The queries so far, each as [proto, source address, name, type]."""
        if self.log is None or not self.log.exists():
            return []
        return [line.split() for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_resolver(
    sb: Sandbox,
    address: str,
    *,
    ns: Path | None = None,
    port: int = 53,
    answer: str = KNOWN_ADDRESS,
    servfail: bool = False,
    log: Path | None = None,
) -> Resolver:
    """Run the resolver in `ns` (the sandbox's outside namespace unless given) until stop() or
    until the sandbox closes."""
    if ns is None:
        assert sb.outside is not None, "the sandbox needs with_outside=True"
        ns = sb.outside
    argv = command(address, port=port, answer=answer, servfail=servfail, log=log)
    resolver = Resolver(sb.popen(argv, ns=ns, stdout=subprocess.PIPE, text=True), log)
    assert resolver.process.stdout is not None
    if resolver.process.stdout.readline().strip() != "ready":
        resolver.stop()
        raise RuntimeError("the simulated resolver did not start")
    return resolver


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--answer", default=KNOWN_ADDRESS)
    parser.add_argument("--servfail", action="store_true")
    parser.add_argument("--log")
    args = parser.parse_args()
    serve(args.address, args.port, _Behaviour(args.answer, args.servfail, args.log))


if __name__ == "__main__":
    main()
