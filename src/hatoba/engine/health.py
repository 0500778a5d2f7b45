"""Recording health checks' results (the probes themselves run in api/health.py).

A result changes the container's State.Health in the live snapshot at once, so inspect and ps
show it; it reaches the store only when the status changes, as Docker keeps health on disk
only best-effort: a check every 100 ms costs no disk write, and the status a client last saw
is the one a restarted service reports.
"""

from __future__ import annotations

from hatoba.engine.core import Core
from hatoba.model import health
from hatoba.model.container import Container
from hatoba.model.humanize import parse_rfc3339


def record(
    core: Core, container_id: str, started_at: str, result: health.ProbeResult
) -> Container | None:
    """None when the container no longer runs the start the probe belonged to (the probe's
    monitor then ends)."""
    container = core.state.containers.get(container_id)
    if container is None or not container.state.running or container.state.started_at != started_at:
        return None
    config, current = container.config.healthcheck, container.state.health
    if config is None or current is None:
        return None
    since_start = parse_rfc3339(result.start) - parse_rfc3339(started_at)
    recorded = health.record(current, result, config, since_start)
    updated = container.with_state(health=recorded)
    if recorded.status != current.status:
        core.commit(containers=[updated])
    else:
        core.commit_in_memory([updated])
    return updated
