"""The cluster store on etcd v3 (through its JSON gateway, with the etcd3gw client): what the
hosts of a cluster share, and this host's local cache of it, kept current by a watch.

Keys, under `/hatoba/v1/`:

    hosts/<host id>                 {"address", "name"}              this host's lease
    networks/<network id>           the network (store/codec.py)
    names/<name>, vnis/<vni>,
    subnets/<subnet>                the network id: the claims one create transaction makes
    endpoints/<network id>/<addr>   the endpoint record, which is the address's claim   lease

Liveness is the lease: a keeper thread renews it every third of its TTL; a host that dies or
is cut off loses it after the TTL and etcd deletes its host and endpoint keys, which every
other host's watch then reports. The same thread lists the keys, then follows a watch from
the listing's revision, and starts over (new listing, new watch, a new lease if the old one
expired) whenever the store stops answering; each start over is a new `epoch` of the view, so
the engine registers this host's endpoints again. `view()` returns the last snapshot: it never
waits on the store.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import etcd3gw
import requests
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception

from hatoba.errors import Conflict, Forbidden, InvalidArgument, StoreError
from hatoba.model.cluster import ClusterEndpoint, ClusterHost, ClusterInfo, ClusterView
from hatoba.model.network import OPT_VNI, Network
from hatoba.store import codec

log = logging.getLogger("hatoba.cluster")

PREFIX = "/hatoba/v1/"
DEFAULT_TTL = 10
# waits between tries while the store does not answer
RETRY_FIRST, RETRY_MAX = 0.2, 2.0


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def parse_cluster_url(text: str) -> tuple[Endpoint, ...]:
    """`etcd://HOST:PORT[,HOST:PORT...]`."""
    scheme, sep, rest = text.partition("://")
    if scheme != "etcd" or not sep or not rest:
        raise InvalidArgument(f"invalid cluster store {text!r}: expected etcd://HOST:PORT[,...]")
    found = []
    for part in rest.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"invalid cluster store address {part!r}: expected HOST:PORT")
        found.append(Endpoint(host.strip("[]"), int(port)))
    return tuple(found)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def _prefix_end(prefix: str) -> str:
    """The end of the key range of everything under `prefix` (its last byte plus one)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class _Reconnect(Exception):
    """The session with the store is over: list, watch and register again."""


class EtcdCluster:
    def __init__(
        self,
        url: str,
        host_id: str,
        advertise: IPv4Address,
        *,
        name: str = "",
        ttl: int = DEFAULT_TTL,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = url
        self.host_id = host_id
        self.advertise = advertise
        self._name = name
        self._ttl = ttl
        # told (from the store's threads) after each change of the view
        self.on_change = on_change
        # a request that takes longer counts as the store being away: within the TTL
        timeout = max(1.0, ttl / 2)
        self._clients = [
            etcd3gw.Etcd3Client(e.host, e.port, timeout=timeout, api_path="/v3/")
            for e in parse_cluster_url(url)
        ]
        self._current = 0
        self._view = ClusterView()
        self._lock = threading.Lock()  # the cache's dicts: keeper, watch and engine threads
        self._hosts: dict[str, ClusterHost] = {}
        self._networks: dict[str, Network] = {}
        self._endpoints: dict[str, dict[IPv4Address, ClusterEndpoint]] = {}
        self._lease: int | None = None
        self._stop = threading.Event()
        self._broken = threading.Event()
        self._watch: requests.Response | None = None
        self._thread = threading.Thread(target=self._keep, name="hatoba-cluster", daemon=True)

    # --- life -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """The lease is left to expire: a service that comes back within the TTL (a restart)
        is never missed by the other hosts."""
        self._stop.set()
        self._end_watch()
        self._thread.join(timeout=5)

    # --- reads (any thread, never waiting) --------------------------------------------------

    def view(self) -> ClusterView:
        return self._view

    def info(self) -> ClusterInfo:
        view = self._view
        return ClusterInfo(
            store=self.url,
            host_id=self.host_id,
            advertise=self.advertise,
            connected=view.connected,
            hosts=tuple(sorted(view.hosts.values(), key=lambda h: int(h.address))),
        )

    # --- writes (the engine's worker) -------------------------------------------------------

    def create_network(self, network: Network) -> bool:
        claims = self._network_claims(network)
        response = self._txn(
            compare=[self._absent(key) for key in claims],
            success=[
                self._put(f"networks/{network.id}", json.dumps(codec.encode(network))),
                *(self._put(key, network.id) for key in claims),
            ],
            failure=[self._range(f"names/{network.name}")],
        )
        if response.get("succeeded"):
            self._remember_network(network)
            return True
        if self._kvs(response):
            raise Conflict(f"network with name {network.name} already exists")
        self._relist_networks()
        return False

    def delete_network(self, network: Network) -> None:
        endpoints = f"endpoints/{network.id}/"
        response = self._txn(
            compare=[
                {
                    "key": _b64(PREFIX + endpoints),
                    "range_end": _b64(PREFIX + _prefix_end(endpoints)),
                    "target": "CREATE",
                    "result": "EQUAL",
                    "create_revision": "0",
                }
            ],
            success=[
                self._delete(f"networks/{network.id}"),
                *(self._delete(key) for key in self._network_claims(network)),
            ],
            failure=[],
        )
        if not response.get("succeeded"):
            raise Forbidden(
                "error while removing network: network "
                f"{network.name} id {network.id} has active endpoints"
            )
        with self._lock:
            self._networks.pop(network.id, None)
            self._endpoints.pop(network.id, None)
        self._publish()

    def claim(self, endpoint: ClusterEndpoint) -> bool:
        lease = self._lease
        if lease is None:
            raise StoreError(f"cluster store {self.url} is unavailable: no lease held")
        key = self._endpoint_key(endpoint.network_id, endpoint.address)
        value = json.dumps(_endpoint_json(endpoint))
        response = self._txn(
            compare=[self._absent(key)],
            success=[self._put(key, value, lease)],
            failure=[self._range(key)],
        )
        if not response.get("succeeded"):
            kvs = self._kvs(response)
            held = _endpoint_of(key, _unb64(kvs[0]["value"])) if kvs else None
            if held is None or held.host_id != self.host_id:
                return False
            # ours already (a registration again, under a new lease): replace it as it was
            response = self._txn(
                compare=[{**self._absent(key), "create_revision": kvs[0]["create_revision"]}],
                success=[self._put(key, value, lease)],
                failure=[],
            )
            if not response.get("succeeded"):
                return False
        with self._lock:
            self._endpoints.setdefault(endpoint.network_id, {})[endpoint.address] = endpoint
        self._publish(notify=False)
        return True

    def release(self, network_id: str, address: IPv4Address) -> None:
        lease = self._lease
        key = self._endpoint_key(network_id, address)
        if lease is not None:
            self._delete_own(key, lease)
        with self._lock:
            held = self._endpoints.get(network_id, {})
            if held.get(address) is not None and held[address].host_id == self.host_id:
                del held[address]
        self._publish(notify=False)

    def _delete_own(self, key: str, lease: int) -> None:
        """Delete an endpoint record while it is this host's: under its lease, or under one
        of its earlier leases (a service killed and started again within the TTL: until the
        old lease ends, its records would keep their addresses and networks taken). Another
        host's record, which it may hold by now, stays."""
        response = self._txn(
            compare=[
                {
                    "key": _b64(PREFIX + key),
                    "target": "LEASE",
                    "result": "EQUAL",
                    "lease": str(lease),
                }
            ],
            success=[self._delete(key)],
            failure=[self._range(key)],
        )
        kvs = [] if response.get("succeeded") else self._kvs(response)
        if kvs and _endpoint_of(key, _unb64(kvs[0]["value"])).host_id == self.host_id:
            self._txn(
                compare=[
                    {
                        "key": _b64(PREFIX + key),
                        "target": "MOD",
                        "result": "EQUAL",
                        "mod_revision": kvs[0]["mod_revision"],
                    }
                ],
                success=[self._delete(key)],
                failure=[],
            )

    # --- the keeper thread ------------------------------------------------------------------

    def _keep(self) -> None:
        wait = RETRY_FIRST
        while not self._stop.is_set():
            try:
                self._session()
                wait = RETRY_FIRST
            except (_Reconnect, StoreError) as exc:
                log.debug("cluster store session over: %s", exc)
                if isinstance(exc, StoreError):
                    log.warning("%s", exc)
            except Exception:
                log.exception("cluster store session failed")
            self._end_watch()
            self._set(connected=False)
            self.on_change()
            self._stop.wait(wait)
            wait = min(wait * 2, RETRY_MAX)

    def _session(self) -> None:
        if self._lease is not None and self._refresh() <= 0:
            log.warning("cluster lease expired: this host registers again")
            self._lease = None
        if self._lease is None:
            result = self._call("/lease/grant", {"TTL": self._ttl, "ID": 0})
            self._lease = int(result["ID"])
        host = {"address": str(self.advertise), "name": self._name}
        self._call(
            "/kv/put",
            {
                "key": _b64(PREFIX + f"hosts/{self.host_id}"),
                "value": _b64(json.dumps(host)),
                "lease": str(self._lease),
            },
        )
        revision = self._list()
        self._broken.clear()
        self._start_watch(revision + 1)
        self._set(synced=True, connected=True, epoch=self._view.epoch + 1)
        self._publish()
        log.info("cluster store %s: connected as host %s", self.url, self.host_id)
        while not self._stop.is_set():
            if self._broken.wait(self._ttl / 3):
                raise _Reconnect("the watch ended")
            if self._stop.is_set():
                return
            if self._refresh() <= 0:
                self._lease = None
                raise _Reconnect("the lease expired")

    def _refresh(self) -> int:
        """The lease's TTL after renewing it; -1 once etcd has let it expire."""
        try:
            result = self._call("/lease/keepalive", {"ID": str(self._lease)})
        except StoreError as exc:
            if "lease not found" in exc.message:
                return -1
            raise
        return int(result.get("result", {}).get("TTL", -1))

    def _list(self) -> int:
        """Everything under the prefix into the cache; the listing's revision."""
        result = self._call(
            "/kv/range", {"key": _b64(PREFIX), "range_end": _b64(_prefix_end(PREFIX))}
        )
        with self._lock:
            self._hosts.clear()
            self._networks.clear()
            self._endpoints.clear()
            for kv in result.get("kvs", []):
                self._apply(_unb64(kv["key"]), _unb64(kv.get("value", "")))
        return int(result["header"]["revision"])

    def _start_watch(self, revision: int) -> None:
        client = self._clients[self._current]
        request = {
            "create_request": {
                "key": _b64(PREFIX),
                "range_end": _b64(_prefix_end(PREFIX)),
                "start_revision": str(revision),
            }
        }
        try:
            response = client.session.post(
                client.get_url("/watch"), json=request, stream=True, timeout=(client.timeout, None)
            )
        except requests.RequestException as exc:
            raise StoreError(f"cluster store {self.url} is unavailable: {exc}") from exc
        self._watch = response
        threading.Thread(
            target=self._follow, args=(response,), name="hatoba-cluster-watch", daemon=True
        ).start()

    def _follow(self, response: requests.Response) -> None:
        try:
            for result in _results(response):
                events = result.get("events", [])
                if not events:
                    continue
                with self._lock:
                    for event in events:
                        kv = event["kv"]
                        key = _unb64(kv["key"])
                        if event.get("type") == "DELETE":
                            self._forget(key)
                        else:
                            self._apply(key, _unb64(kv.get("value", "")))
                self._publish()
        except Exception as exc:  # the connection went: the keeper starts over
            log.debug("cluster watch ended: %s", exc)
        finally:
            self._broken.set()

    def _end_watch(self) -> None:
        response, self._watch = self._watch, None
        if response is None:
            return
        # a read blocked on a silent peer (a partition) only ends when its socket is shut
        with contextlib.suppress(Exception):
            fd = response.raw._fp.fileno()
            socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM).shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            response.close()

    # --- the cache --------------------------------------------------------------------------

    def _apply(self, key: str, value: str) -> None:
        """One key as the store holds it now (the lock is held)."""
        kind, _, rest = key.removeprefix(PREFIX).partition("/")
        try:
            if kind == "hosts":
                data = json.loads(value)
                self._hosts[rest] = ClusterHost(rest, IPv4Address(data["address"]), data["name"])
            elif kind == "networks":
                self._networks[rest] = codec.decode(Network, json.loads(value))
            elif kind == "endpoints":
                endpoint = _endpoint_of(key.removeprefix(PREFIX), value)
                self._endpoints.setdefault(endpoint.network_id, {})[endpoint.address] = endpoint
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable cluster record %s: %s", key, exc)

    def _forget(self, key: str) -> None:
        kind, _, rest = key.removeprefix(PREFIX).partition("/")
        if kind == "hosts":
            self._hosts.pop(rest, None)
        elif kind == "networks":
            self._networks.pop(rest, None)
        elif kind == "endpoints":
            network_id, _, address = rest.partition("/")
            with contextlib.suppress(ValueError):
                self._endpoints.get(network_id, {}).pop(IPv4Address(address), None)

    def _remember_network(self, network: Network) -> None:
        with self._lock:
            self._networks[network.id] = network
        self._publish()

    def _relist_networks(self) -> None:
        prefix = PREFIX + "networks/"
        result = self._call(
            "/kv/range", {"key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))}
        )
        with self._lock:
            for kv in result.get("kvs", []):
                self._apply(_unb64(kv["key"]), _unb64(kv.get("value", "")))
        self._publish()

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._view = replace(self._view, **changes)

    def _publish(self, *, notify: bool = True) -> None:
        """The next snapshot from the cache, then the engine is told (not of its own writes:
        it knows them)."""
        with self._lock:
            self._view = replace(
                self._view,
                hosts=dict(self._hosts),
                networks=dict(self._networks),
                endpoints={nid: dict(eps) for nid, eps in self._endpoints.items() if eps},
            )
        if notify:
            self.on_change()

    # --- requests ---------------------------------------------------------------------------

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to the first member that answers (trying the others in turn)."""
        failure: Exception | None = None
        for step in range(len(self._clients)):
            index = (self._current + step) % len(self._clients)
            client = self._clients[index]
            try:
                result: dict[str, Any] = client.post(client.get_url(path), json=body)
            except (ConnectionFailedError, ConnectionTimeoutError) as exc:
                failure = exc
                continue
            except Etcd3Exception as exc:
                raise StoreError(f"cluster store {self.url}: {exc.detail_text or exc}") from exc
            self._current = index
            return result
        reason = getattr(failure, "detail_text", "") or type(failure).__name__
        raise StoreError(f"cluster store {self.url} is unavailable: {reason}")

    def _txn(
        self, *, compare: Sequence[Any], success: Sequence[Any], failure: Sequence[Any]
    ) -> dict[str, Any]:
        return self._call(
            "/kv/txn",
            {"compare": list(compare), "success": list(success), "failure": list(failure)},
        )

    @staticmethod
    def _absent(key: str) -> dict[str, str]:
        return {
            "key": _b64(PREFIX + key),
            "target": "CREATE",
            "result": "EQUAL",
            "create_revision": "0",
        }

    @staticmethod
    def _put(key: str, value: str, lease: int | None = None) -> dict[str, Any]:
        put = {"key": _b64(PREFIX + key), "value": _b64(value)}
        if lease is not None:
            put["lease"] = str(lease)
        return {"request_put": put}

    @staticmethod
    def _delete(key: str) -> dict[str, Any]:
        return {"request_delete_range": {"key": _b64(PREFIX + key)}}

    @staticmethod
    def _range(key: str) -> dict[str, Any]:
        return {"request_range": {"key": _b64(PREFIX + key)}}

    @staticmethod
    def _kvs(response: dict[str, Any]) -> list[dict[str, Any]]:
        found: Iterator[dict[str, Any]] = (
            kv
            for r in response.get("responses", [])
            for kv in r.get("response_range", {}).get("kvs", [])
        )
        return list(found)

    @staticmethod
    def _endpoint_key(network_id: str, address: IPv4Address) -> str:
        return f"endpoints/{network_id}/{address}"

    @staticmethod
    def _network_claims(network: Network) -> list[str]:
        claims = [f"names/{network.name}"]
        if OPT_VNI in network.options:
            claims.append(f"vnis/{network.options[OPT_VNI]}")
        claims += [f"subnets/{IPv4Network(p.subnet)}" for p in network.ipam]
        return claims


def _results(response: requests.Response) -> Iterator[dict[str, Any]]:
    """The watch stream's messages, one JSON document a line, each as soon as it arrives
    (`iter_lines` would wait for a whole buffer)."""
    pending = b""
    for chunk in response.iter_content(chunk_size=None):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line).get("result", {})


def _endpoint_json(endpoint: ClusterEndpoint) -> dict[str, Any]:
    return {
        "mac": endpoint.mac,
        "host": endpoint.host_id,
        "vtep": str(endpoint.vtep),
        "container": endpoint.container_id,
        "endpoint": endpoint.endpoint_id,
        "names": list(endpoint.names),
    }


def _endpoint_of(key: str, value: str) -> ClusterEndpoint:
    """`endpoints/<network id>/<address>` and its record."""
    _, network_id, address = key.split("/", 2)
    data = json.loads(value)
    return ClusterEndpoint(
        network_id=network_id,
        address=IPv4Address(address),
        mac=data["mac"],
        host_id=data["host"],
        vtep=IPv4Address(data["vtep"]),
        container_id=data["container"],
        endpoint_id=data.get("endpoint", ""),
        names=tuple(data.get("names", ())),
    )
