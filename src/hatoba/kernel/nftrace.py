"""nftables trace events (NFNLGRP_NFTRACE) from the host's namespace, and the rules they name.

A packet marked with `meta nftrace set 1` makes the kernel report every rule and chain policy
it meets, in every table of the namespace, on this netlink group: with the table, chain, rule
handle, verdict, interfaces and the packet's headers as the rule saw them. Only a listener
makes the kernel do that work. Messages are read as `nfnetlink` reads them; rule texts come
from `nft -a list`.
"""

from __future__ import annotations

import errno
import re
import socket
import struct
import subprocess

from hatoba.errors import KernelError
from hatoba.kernel import nfnetlink
from hatoba.kernel.fw_netns import HomeNetns
from hatoba.observe.evidence import RuleHit

_NFNLGRP_NFTRACE = 9
_NFT_MSG_TRACE = 17

# enum nft_trace_attributes
_TABLE, _CHAIN, _RULE_HANDLE, _TYPE, _VERDICT, _ID = 1, 2, 3, 4, 5, 6
_NETWORK_HEADER, _TRANSPORT_HEADER, _IIF, _OIF, _POLICY = 8, 9, 10, 12, 16
_VERDICT_CODE, _VERDICT_CHAIN = 1, 2
_TYPES = {1: "policy", 2: "return", 3: "rule"}
_VERDICTS = {
    0: "drop",
    1: "accept",
    2: "stolen",
    3: "queue",
    4: "repeat",
    5: "stop",
    -1: "continue",
    -2: "break",
    -3: "jump",
    -4: "goto",
    -5: "return",
}
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
_HANDLE = re.compile(r"^\s*(.*?)\s*# handle (\d+)\s*$")


class TraceListener:
    """The trace group's socket in the host namespace; read it when it is readable."""

    def __init__(self, home: HomeNetns) -> None:
        self._home = home
        self._sock = home.call(
            lambda: nfnetlink.subscribe(_NFNLGRP_NFTRACE, 4 << 20, "nftables trace")
        )
        self._names: dict[int, str] = {}

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[RuleHit]:
        """The events waiting now (non-blocking)."""
        hits: list[RuleHit] = []
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return hits
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # some were lost: keep what comes next
                    continue
                raise KernelError(f"nftables trace: {exc.strerror}", exc.errno) from exc
            hits += self._parse(data)

    def _parse(self, data: bytes) -> list[RuleHit]:
        return [
            self._hit(body[0], nfnetlink.attrs(body[4:]))
            for kind, body in nfnetlink.messages(data)
            if kind == (nfnetlink.SUBSYS_NFTABLES << 8 | _NFT_MSG_TRACE) and len(body) >= 4
        ]

    def _hit(self, family: int, attrs: dict[int, bytes]) -> RuleHit:
        kind = _TYPES.get(_u32(attrs.get(_TYPE)), "rule")
        code, target = _verdict(attrs.get(_VERDICT, b""))
        if kind == "policy" and _POLICY in attrs:
            code = struct.unpack(">i", attrs[_POLICY][:4])[0]
        handle = attrs.get(_RULE_HANDLE)
        return RuleHit(
            packet_id=_u32(attrs.get(_ID)),
            family=FAMILIES.get(family, str(family)),
            table=_text(attrs.get(_TABLE)),
            chain=_text(attrs.get(_CHAIN)),
            kind=kind,
            verdict=_VERDICTS.get(code, str(code)),
            handle=struct.unpack(">Q", handle[:8])[0] if handle else None,
            target=target,
            iif=self._name(attrs.get(_IIF)),
            oif=self._name(attrs.get(_OIF)),
            # the kernel copies the network and transport headers apart: as one datagram,
            # they read like the packet
            header=attrs.get(_NETWORK_HEADER, b"") + attrs.get(_TRANSPORT_HEADER, b""),
        )

    def _name(self, raw: bytes | None) -> str:
        if not raw:
            return ""
        index = _u32(raw)
        if index not in self._names:
            try:
                self._names[index] = self._home.call(lambda: socket.if_indextoname(index))
            except OSError:
                return f"if{index}"
        return self._names[index]

    def close(self) -> None:
        self._sock.close()


def _u32(raw: bytes | None) -> int:
    return struct.unpack(">I", raw[:4])[0] if raw and len(raw) >= 4 else 0


def _text(raw: bytes | None) -> str:
    return (raw or b"").rstrip(b"\0").decode(errors="replace")


def _verdict(raw: bytes) -> tuple[int, str]:
    attrs = nfnetlink.attrs(raw)
    code = struct.unpack(">i", attrs[_VERDICT_CODE][:4])[0] if _VERDICT_CODE in attrs else 1
    return code, _text(attrs.get(_VERDICT_CHAIN))


def rule_texts(home: HomeNetns, family: str, table: str, chain: str) -> dict[int, str]:
    """Handle → the rule as `nft -a list chain` prints it (empty when the chain is gone).

    The `nft` binary, not libnftables: the service keeps libnftables in its helper process
    (whose contexts answer in JSON), and a trace lists a few chains once, at its end.
    """

    def work() -> subprocess.CompletedProcess[str]:
        # forked from a thread in the host namespace, so the child is in it too
        return subprocess.run(
            ["nft", "-a", "list", "chain", family, table, chain],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    try:
        done = home.call(work)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    texts = {}
    for line in done.stdout.splitlines():
        found = _HANDLE.match(line)
        if found and not found[1].startswith(("chain ", "type ")):
            texts[int(found[2])] = found[1]
    return texts
