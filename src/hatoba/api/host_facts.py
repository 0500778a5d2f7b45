"""What /version and /info say about the build and the host, under Docker 20.10's keys.

Docker fills them from Go's runtime and from /proc and /sys; these are the same readings, each
falling back to what Docker shows when it cannot tell (zero, false, empty).
"""

from __future__ import annotations

import os
import platform
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hatoba import API_VERSION, MIN_API_VERSION, __version__
from hatoba.model.platforms import goarch


def build() -> dict[str, Any]:
    """/version's build facts, at its top level and again in the Engine component."""
    return {
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
        "Arch": goarch(platform.machine()),
        "KernelVersion": platform.release(),
        "GoVersion": "python" + platform.python_version(),
        "GitCommit": "",
        "BuildTime": "",
    }


def version() -> dict[str, Any]:
    details = build()
    return {
        "Platform": {"Name": "hatoba"},
        "Version": __version__,
        **details,
        "Experimental": False,
        "Components": [
            {
                "Name": "Engine",
                "Version": __version__,
                "Details": {**details, "Experimental": "false"},
            }
        ],
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _flag(path: str) -> bool:
    return _read(path) == "1"


def _mem_total() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def host_info() -> dict[str, Any]:
    """/info's keys about the host and this process (Docker's names and meanings)."""
    release = _os_release()
    return {
        "OperatingSystem": release.get("PRETTY_NAME", platform.system()),
        "OSVersion": release.get("VERSION_ID", ""),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "KernelVersion": platform.release(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "IPv4Forwarding": _flag("/proc/sys/net/ipv4/ip_forward"),
        "BridgeNfIptables": _flag("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": _flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
        "NFd": len(os.listdir("/proc/self/fd")),
        # Docker counts goroutines; the nearest thing here is the service's threads
        "NGoroutines": threading.active_count(),
        "SystemTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
        "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
    }
