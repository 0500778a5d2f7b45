"""docker compose's progress display: one line per network and container, on stderr.

On a terminal the block is redrawn in place as events arrive:

    [+] Running 3/3
     ✔ Network seedproj_default  Created          0.1s
     ✔ Container seedproj-db-1   Started          0.3s

elsewhere (a pipe, a log, `--progress plain`) each event is a line of its own, as docker
compose prints them: ` Container seedproj-db-1  Started`. `--progress quiet` prints nothing.
Events come from several threads.
"""

from __future__ import annotations

import os
import sys
import threading
import time

_DONE = "✔"
_FAILED = "✘"
_WORKING = "⠿"


class Progress:
    def __init__(self, title: str, mode: str = "auto") -> None:
        if mode == "auto":
            mode = "tty" if os.isatty(sys.stderr.fileno()) else "plain"
        self.mode = mode
        self.title = title
        self._lock = threading.Lock()
        # name → [status, state (working, done, failed), started, ended]
        self._lines: dict[str, list[object]] = {}
        self._drawn = 0

    def event(self, name: str, status: str, state: str = "working") -> None:
        with self._lock:
            now = time.monotonic()
            line = self._lines.get(name)
            if line is None:
                self._lines[name] = [status, state, now, now]
            else:
                line[0], line[1], line[3] = status, state, now
            if self.mode == "plain":
                sys.stderr.write(f" {name}  {status}\n")
                sys.stderr.flush()
            elif self.mode == "tty":
                self._draw()

    def done(self, name: str, status: str) -> None:
        self.event(name, status, "done")

    def failed(self, name: str, status: str) -> None:
        self.event(name, status, "failed")

    def _draw(self) -> None:
        lines = self._lines
        finished = sum(1 for v in lines.values() if v[1] != "working")
        width = max((len(n) for n in lines), default=0)
        out = [f"[+] {self.title} {finished}/{len(lines)}"]
        for name, (status, state, started, ended) in lines.items():
            mark = {"done": _DONE, "failed": _FAILED}.get(str(state), _WORKING)
            elapsed = f"{float(ended) - float(started):.1f}s"  # type: ignore[arg-type]
            out.append(f" {mark} {name.ljust(width)}  {str(status).ljust(12)}  {elapsed:>6}")
        up = f"\x1b[{self._drawn}A" if self._drawn else ""
        sys.stderr.write(up + "".join(f"\x1b[2K{line}\n" for line in out))
        sys.stderr.flush()
        self._drawn = len(out)
