"""`hatoba network topology --watch`: a local page that follows the topology as containers
and networks come and go.

The command serves, on 127.0.0.1 and a free port unless --listen says otherwise:
  /               the page: the picture and the tree, kept current by a small script
  /events         Server-Sent Events: `topology` each time the drawing changed
  /fragment       the picture and the tree (what the script puts in the page)
  /topology.svg   /topology.json
It follows the service's own event stream (GET /events: containers and networks) and draws
anew after each burst of events (a `run` is a create, a connect and a start), so the page is
fed by the events, not by polling. Ctrl-C ends it. http.server is loaded by this command alone.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hatoba.cli.errors import CliError
from hatoba.cli.topology import fetch, stamp, svg
from hatoba.observe import topology_draw as draw

TYPE_CHECKING = False  # `typing` costs ~4 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from hatoba.cli.context import Context

# a run's create, connect and start arrive within this; drawing once for all of them
BURST = 0.15
# an idle event stream gets a comment this often, so a closed page is noticed
KEEPALIVE = 15.0
RECONNECT = 1.0


class Drawing:
    """The current picture, versioned; handlers wait for the next version."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.version = 0
        self.documents: dict[str, tuple[str, bytes]] = {}

    def update(self, documents: dict[str, tuple[str, bytes]]) -> None:
        with self._changed:
            self.documents = documents
            self.version += 1
            self._changed.notify_all()

    def wait_past(self, version: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout)
            return self.version


def watch(ctx: Context, listen: str) -> int:
    host, _, port = listen.rpartition(":")
    try:
        address = (host or "127.0.0.1", int(port))
    except ValueError:
        raise CliError(f'hatoba: invalid --listen "{listen}": expected ADDRESS:PORT') from None
    drawing = Drawing()
    drawing.update(_documents(ctx))
    try:
        server = ThreadingHTTPServer(address, _handler(drawing))
    except OSError as exc:
        raise CliError(f"hatoba: cannot listen on {listen}: {exc.strerror}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="topology-page", daemon=True).start()
    shown_host = address[0] if ":" not in address[0] else f"[{address[0]}]"
    sys.stdout.write(
        f"Serving the topology on http://{shown_host}:{server.server_port}/ (Ctrl-C to stop)\n"
    )
    sys.stdout.flush()
    try:
        _follow(ctx, drawing)
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _documents(ctx: Context) -> dict[str, tuple[str, bytes]]:
    current = fetch(ctx)
    picture = svg(current)
    body = draw.fragment(current, picture)
    return {
        "/": ("text/html; charset=utf-8", draw.page(body, stamp(), live=True).encode()),
        "/fragment": ("text/html; charset=utf-8", body.encode()),
        "/topology.svg": ("image/svg+xml", picture.encode()),
        "/topology.json": ("application/json", json.dumps(current.to_json()).encode()),
    }


def _follow(ctx: Context, drawing: Drawing) -> None:
    """Draw again after each burst of the service's events, for as long as we run."""
    changes: queue.Queue[object] = queue.Queue()
    threading.Thread(
        target=_read_events, args=(ctx, changes), name="topology-events", daemon=True
    ).start()
    while True:
        changes.get()
        time.sleep(BURST)
        while not changes.empty():
            changes.get_nowait()
        try:
            drawing.update(_documents(ctx))
        except (CliError, ConnectionError, OSError) as exc:
            sys.stderr.write(f"hatoba: could not draw the topology: {exc}\n")


def _read_events(ctx: Context, changes: queue.Queue[object]) -> None:
    query = {"filters": json.dumps({"type": ["container", "network"]})}
    while True:
        try:
            response = ctx.client.request("GET", "/events", query)
            # (re)connected: whatever happened while we were away is drawn
            changes.put(None)
            for event in response.json_lines():
                changes.put(event)
        except (CliError, ConnectionError, OSError):
            pass
        time.sleep(RECONNECT)


def _handler(drawing: Drawing) -> type[BaseHTTPRequestHandler]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/events":
                self._events()
                return
            found = drawing.documents.get(path)
            if found is None:
                self.send_error(404)
                return
            content_type, body = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _events(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = -1  # a page that (re)connects fetches the current picture at once
            try:
                while True:
                    if drawing.version != seen:
                        seen = drawing.version
                        self.wfile.write(f"event: topology\ndata: {seen}\n\n".encode())
                    else:
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
                    drawing.wait_past(seen, KEEPALIVE)
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:
            pass  # a page's requests are not the user's business

    return Page
