"""The state database. Documents are model values encoded as JSON, one row per object.

The engine keeps the live state in memory and writes every operation's changes in one SQLite
transaction, after its kernel steps succeeded: a crash before the commit leaves the previous
state, and the service's reconciliation removes whatever kernel objects no record owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hatoba.errors import StoreError
from hatoba.model.container import Container
from hatoba.model.mounts import Volume
from hatoba.model.network import Network
from hatoba.store.codec import decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks
    (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers
    (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""


@dataclass
class Snapshot:
    networks: list[Network] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def put_network(self, network: Network) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO networks (id, name, doc) VALUES (?, ?, ?)",
            (network.id, network.name, json.dumps(encode(network))),
        )

    def delete_network(self, network_id: str) -> None:
        self._db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def put_container(self, container: Container) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO containers (id, name, doc) VALUES (?, ?, ?)",
            (container.id, container.name, json.dumps(encode(container))),
        )

    def delete_container(self, container_id: str) -> None:
        self._db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def put_volume(self, volume: Volume) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO volumes (name, doc) VALUES (?, ?)",
            (volume.name, json.dumps(encode(volume))),
        )

    def delete_volume(self, name: str) -> None:
        self._db.execute("DELETE FROM volumes WHERE name = ?", (name,))

    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )


class SqliteStore:
    def __init__(self, root: Path) -> None:
        os.makedirs(root, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                root / "hatoba.db", isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open state database in {root}: {exc}") from exc

    def load(self) -> Snapshot:
        try:
            snap = Snapshot()
            for (doc,) in self._db.execute("SELECT doc FROM networks"):
                snap.networks.append(decode(Network, json.loads(doc)))
            for (doc,) in self._db.execute("SELECT doc FROM containers"):
                snap.containers.append(decode(Container, json.loads(doc)))
            for (doc,) in self._db.execute("SELECT doc FROM volumes"):
                snap.volumes.append(decode(Volume, json.loads(doc)))
            for key, value in self._db.execute("SELECT key, value FROM meta"):
                snap.meta[key] = json.loads(value)
            return snap
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            raise StoreError(f"state database is unreadable: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
