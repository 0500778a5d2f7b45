"""A tiny upstream resolver for the tests, run in a sandbox namespace (UDP and TCP).

Names under example.test get an A record (300 s), `big.example.test` TXT is larger than 512
bytes, everything else is NXDOMAIN; with --servfail every query gets SERVFAIL. Each query is
appended to the log file as "<udp|tcp> <source address> <name> <type>".
"""

from __future__ import annotations

import argparse
import socket
import threading

import dnslib


def answer(data: bytes, args: argparse.Namespace) -> bytes:
    query = dnslib.DNSRecord.parse(data)
    reply = query.reply(aa=0)
    name = str(query.q.qname).lower()
    if args.servfail:
        reply.header.rcode = dnslib.RCODE.SERVFAIL
    elif name == "big.example.test." and query.q.qtype == dnslib.QTYPE.TXT:
        for i in range(6):
            text = dnslib.TXT("x" * 200 + str(i))
            reply.add_answer(dnslib.RR(name, dnslib.QTYPE.TXT, rdata=text, ttl=300))
    elif name.endswith("example.test.") and query.q.qtype == dnslib.QTYPE.A:
        reply.add_answer(dnslib.RR(name, rdata=dnslib.A(args.answer), ttl=300))
    elif not name.endswith("example.test."):
        reply.header.rcode = dnslib.RCODE.NXDOMAIN
    return bytes(reply.pack())


def log(args: argparse.Namespace, proto: str, source: str, data: bytes) -> None:
    query = dnslib.DNSRecord.parse(data)
    line = f"{proto} {source} {str(query.q.qname).lower()} {dnslib.QTYPE[query.q.qtype]}\n"
    with open(args.log, "a", encoding="utf-8") as f:
        f.write(line)


def serve_udp(sock: socket.socket, args: argparse.Namespace) -> None:
    while True:
        data, peer = sock.recvfrom(65535)
        log(args, "udp", peer[0], data)
        out = answer(data, args)
        opts = [rr for rr in dnslib.DNSRecord.parse(data).ar if rr.rtype == dnslib.QTYPE.OPT]
        if len(out) > max(512, opts[0].rclass if opts else 512):
            out = bytes(dnslib.DNSRecord.parse(out).truncate().pack())
        sock.sendto(out, peer)


def serve_tcp(sock: socket.socket, args: argparse.Namespace) -> None:
    while True:
        conn, peer = sock.accept()
        with conn:
            size = int.from_bytes(conn.recv(2, socket.MSG_WAITALL), "big")
            data = conn.recv(size, socket.MSG_WAITALL)
            log(args, "tcp", peer[0], data)
            out = answer(data, args)
            conn.sendall(len(out).to_bytes(2, "big") + out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--log", required=True)
    parser.add_argument("--answer", default="192.0.2.1")
    parser.add_argument("--servfail", action="store_true")
    args = parser.parse_args()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.address, args.port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.address, args.port))
    tcp.listen(16)
    threading.Thread(target=serve_tcp, args=(tcp, args), daemon=True).start()
    print("ready", flush=True)
    serve_udp(udp, args)


if __name__ == "__main__":
    main()
