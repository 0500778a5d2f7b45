"""What every command gets: the global options and a client that starts the service on demand."""

from __future__ import annotations

import os

from hatoba.cli.client import Client


class Context:
    def __init__(self, root: str, run_root: str, host: str | None, debug: bool) -> None:
        self.root = root
        self.run_root = run_root
        self.host = host
        self.debug = debug
        # the command line so far, for help and error texts: "hatoba network ls"
        self.prog = "hatoba"
        self._client: Client | None = None

    @property
    def socket_path(self) -> str:
        if self.host is not None:
            return self.host.removeprefix("unix://")
        return os.path.join(self.run_root, "hatoba.sock")

    @property
    def client(self) -> Client:
        if self._client is None:
            # only our own socket can be brought up by starting a service with our roots
            hook = self._start_service if self.host is None else None
            self._client = Client(self.socket_path, on_unreachable=hook, debug=self.debug)
        return self._client

    def _start_service(self) -> None:
        from hatoba.cli.autostart import start_service

        start_service(self.root, self.run_root, self.socket_path)
