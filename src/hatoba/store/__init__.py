"""Durable state: SQLite in WAL mode under --root; the service is its only writer."""
