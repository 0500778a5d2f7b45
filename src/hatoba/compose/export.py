"""The Project back as a compose document (`hatoba compose config`): the resolved, normalized
model in the compose file's own keys, long syntaxes throughout, defaults left out."""

from __future__ import annotations

from typing import Any

from hatoba.compose.model import BIND, TMPFS, VOLUME, Mount, Network, Project, Service, Volume

_NS = 10**9


def project_document(project: Project) -> dict[str, Any]:
    doc = {
        "name": project.name,
        "services": {s.name: service_document(s) for s in project.services},
        "networks": {n.key: network_document(n) for n in project.networks},
    }
    if project.volumes:
        doc["volumes"] = {v.key: volume_document(v) for v in project.volumes}
    return doc


def _duration(ns: int) -> str:
    if ns % _NS == 0:
        return f"{ns // _NS}s"
    return f"{ns / 10**6:g}ms"


def service_document(s: Service) -> dict[str, Any]:
    doc: dict[str, Any] = {"image": s.image}
    if s.command is not None:
        doc["command"] = list(s.command)
    if s.entrypoint is not None:
        doc["entrypoint"] = list(s.entrypoint)
    if s.environment:
        doc["environment"] = dict(s.environment)
    for key in ("hostname", "domainname", "container_name", "stop_signal", "working_dir", "user"):
        if getattr(s, key):
            doc[key] = getattr(s, key)
    for key in ("extra_hosts", "dns", "dns_search", "dns_opt", "expose", "profiles"):
        if getattr(s, key):
            doc[key] = list(getattr(s, key))
    if s.ports:
        doc["ports"] = [
            {
                "target": p.target,
                "protocol": p.protocol,
                **({"published": p.published} if p.published else {}),
                **({"host_ip": p.host_ip} if p.host_ip else {}),
            }
            for p in s.ports
        ]
    if s.depends_on:
        doc["depends_on"] = {
            d.service: {"condition": d.condition, "required": d.required, "restart": d.restart}
            for d in s.depends_on
        }
    if s.healthcheck is not None:
        h = s.healthcheck
        check: dict[str, Any] = {"test": list(h.test)}
        for key, ns in (("interval", h.interval_ns), ("timeout", h.timeout_ns),
                        ("start_period", h.start_period_ns)):  # fmt: skip
            if ns:
                check[key] = _duration(ns)
        if h.retries:
            check["retries"] = h.retries
        doc["healthcheck"] = check
    if s.restart.name != "no":
        count = s.restart.maximum_retry_count
        doc["restart"] = s.restart.name + (f":{count}" if count else "")
    deploy: dict[str, Any] = {}
    if s.replicas != 1:
        deploy["replicas"] = s.replicas
    if s.limits is not None:
        limits = {
            k: v
            for k, v in (
                ("cpus", s.limits.cpus),
                ("memory", _bytes(s.limits.memory)),
                ("pids", s.limits.pids),
            )
            if v
        }
        deploy["resources"] = {"limits": limits}
    if deploy:
        doc["deploy"] = deploy
    if s.labels:
        doc["labels"] = dict(s.labels)
    if s.init is not None:
        doc["init"] = s.init
    if s.stop_grace_period_s is not None:
        doc["stop_grace_period"] = f"{s.stop_grace_period_s}s"
    if s.tty:
        doc["tty"] = True
    if s.stdin_open:
        doc["stdin_open"] = True
    if s.network_mode:
        doc["network_mode"] = s.network_mode
    else:
        doc["networks"] = {
            n.key: {
                k: v
                for k, v in (
                    ("aliases", list(n.aliases)),
                    ("ipv4_address", n.ipv4_address),
                    ("ipv6_address", n.ipv6_address),
                    ("link_local_ips", list(n.link_local_ips)),
                    ("priority", n.priority),
                )
                if v
            }
            or None
            for n in s.networks
        }
    if s.volumes:
        doc["volumes"] = [mount_document(m) for m in s.volumes]
    for key in ("tmpfs", "volumes_from"):
        if getattr(s, key):
            doc[key] = list(getattr(s, key))
    doc.update(knobs_document(s))
    return doc


def _bytes(size: int) -> str:
    # compose-go prints its UnitBytes as a decimal string
    return str(size) if size else ""


def knobs_document(s: Service) -> dict[str, Any]:
    """Capabilities, kernel settings, devices and limits as compose-go prints them: sizes
    in bytes as strings, a ulimit with equal limits as one number, devices in the long
    syntax; what is unset is left out."""
    doc: dict[str, Any] = {}
    for key in ("cap_add", "cap_drop", "security_opt", "device_cgroup_rules"):
        if getattr(s, key):
            doc[key] = list(getattr(s, key))
    for key in ("privileged", "read_only"):
        if getattr(s, key):
            doc[key] = True
    if s.sysctls:
        doc["sysctls"] = dict(s.sysctls)
    if s.ulimits:
        doc["ulimits"] = {
            u.name: u.soft if u.soft == u.hard else {"soft": u.soft, "hard": u.hard}
            for u in s.ulimits
        }
    if s.devices:
        doc["devices"] = [
            {"source": d.source, "target": d.target, "permissions": d.permissions}
            for d in s.devices
        ]
    for key in ("shm_size", "mem_limit", "memswap_limit"):
        if getattr(s, key):
            doc[key] = _bytes(getattr(s, key))
    for key in ("oom_score_adj", "cpus", "cpu_shares", "cpu_quota", "cpu_period", "pids_limit"):
        if getattr(s, key):
            doc[key] = getattr(s, key)
    return doc


def mount_document(m: Mount) -> dict[str, Any]:
    """compose-go's long syntax: a volume always has its `volume` section, even empty."""
    doc: dict[str, Any] = {"type": m.type}
    if m.source:
        doc["source"] = m.source
    doc["target"] = m.target
    if m.read_only:
        doc["read_only"] = True
    if m.consistency:
        doc["consistency"] = m.consistency
    sections = {
        BIND: (
            ("propagation", m.propagation),
            ("create_host_path", m.create_host_path),
            ("selinux", m.selinux),
        ),
        VOLUME: (("nocopy", m.nocopy), ("labels", dict(m.labels))),
        TMPFS: (("size", m.size), ("mode", m.mode)),
    }
    section = {k: v for k, v in sections[m.type] if v}
    if section or m.type == VOLUME:
        doc[m.type] = section
    return doc


def volume_document(v: Volume) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": v.name}
    if v.external:
        doc["external"] = True
        return doc
    if v.driver:
        doc["driver"] = v.driver
    if v.driver_opts:
        doc["driver_opts"] = dict(v.driver_opts)
    if v.labels:
        doc["labels"] = dict(v.labels)
    return doc


def network_document(n: Network) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": n.name}
    if n.external:
        doc["external"] = True
        return doc
    doc["driver"] = n.driver
    if n.internal:
        doc["internal"] = True
    if n.enable_ipv6:
        doc["enable_ipv6"] = True
    if n.driver_opts:
        doc["driver_opts"] = dict(n.driver_opts)
    if n.labels:
        doc["labels"] = dict(n.labels)
    if n.ipam:
        doc["ipam"] = {
            "config": [
                {
                    k: v
                    for k, v in (
                        ("subnet", p.subnet),
                        ("gateway", p.gateway),
                        ("ip_range", p.ip_range),
                    )
                    if v
                }
                for p in n.ipam
            ]
        }
    return doc
