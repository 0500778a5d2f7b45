"""A tiny peer for firewall tests, run inside a namespace with `python3 fw_peer.py ...`.

serve PORT        TCP and UDP on PORT: answer each connection or datagram with the address
                  the peer appears to have (and print "seen PROTO ADDRESS" for the test)
probe JSON        JSON list of [proto, ip, port] with proto tcp, udp or icmp, asked all at
                  once; prints a JSON list of answers: the address the server saw, "ok"
                  for an icmp echo reply, or "TIMEOUT" / "ERROR <reason>"
sink PORT         TCP: read everything, then reply with the byte count
send IP PORT N    TCP: send N bytes, print the count the sink reports
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 1.0
IP_PKTINFO = 8  # <linux/in.h>; Python 3.11 lacks the constant


def serve(port: int) -> None:
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", port))
    tcp.listen(64)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    udp.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sel = selectors.DefaultSelector()
    sel.register(tcp, selectors.EVENT_READ)
    sel.register(udp, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is tcp:
                conn, peer = tcp.accept()
                print("seen tcp", peer[0], flush=True)
                with conn:
                    conn.sendall(peer[0].encode())
            else:
                _, ancillary, _, peer = udp.recvmsg(2048, socket.CMSG_SPACE(12))
                print("seen udp", peer[0], flush=True)
                # answer from the address the datagram was sent to, as a client expects
                _, _, dst = struct.unpack("=I4s4s", ancillary[0][2])
                info = struct.pack("=I4s4s", 0, dst, bytes(4))
                udp.sendmsg([peer[0].encode()], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, peer)


def ask(proto: str, ip: str, port: int) -> str:
    if proto == "icmp":
        return _ping(ip)
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(TIMEOUT)
        try:
            if proto == "tcp":
                s.connect((ip, port))
                return s.recv(100).decode() or "EMPTY"
            s.sendto(b"?", (ip, port))
            return s.recv(100).decode()
        except TimeoutError:
            return "TIMEOUT"
        except OSError as exc:
            return f"ERROR {exc.strerror}"


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


_ids = itertools.count(os.getpid() & 0x7FFF)


def _ping(ip: str) -> str:
    ident = next(_ids) & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        header = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"hatoba"
        s.sendto(header[:2] + struct.pack("!H", _checksum(header)) + header[4:], (ip, 0))
        deadline = time.monotonic() + TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                packet, (source, _) = s.recvfrom(200)
            except TimeoutError:
                break
            icmp = packet[(packet[0] & 0x0F) * 4 :]
            if source == ip and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                return "ok"
    return "TIMEOUT"


def probe(targets: list[list[object]]) -> list[str]:
    with ThreadPoolExecutor(max_workers=len(targets) or 1) as pool:
        return list(pool.map(lambda t: ask(str(t[0]), str(t[1]), int(t[2])), targets))


def sink(port: int) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        with conn:
            total = 0
            while chunk := conn.recv(1 << 16):
                total += len(chunk)
            conn.sendall(str(total).encode())


def send(ip: str, port: int, size: int) -> str:
    with socket.create_connection((ip, port), timeout=10) as s:
        block = b"x" * 65536
        left = size
        while left:
            left -= s.send(block[: min(left, len(block))])
        s.shutdown(socket.SHUT_WR)
        return s.recv(100).decode()


def main() -> None:
    cmd, *args = sys.argv[1:]
    if cmd == "serve":
        serve(int(args[0]))
    elif cmd == "probe":
        print(json.dumps(probe(json.loads(args[0]))), flush=True)
    elif cmd == "sink":
        sink(int(args[0]))
    elif cmd == "send":
        print(send(args[0], int(args[1]), int(args[2])), flush=True)


if __name__ == "__main__":
    main()
