"""`hatoba service`: the composition root. Wires the real adapters into the engine and serves.

Order matters: the fork server is forked before anything starts a thread, and before the
heavy imports (pyroute2 alone costs ~170 ms), so that shims start from a small process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import resource
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hatoba.keeper import ALREADY_RUNNING, notify_ready, take_notify_socket
from hatoba.model.daemon import BadConfig, DaemonConfig
from hatoba.model.daemon import parse as parse_config
from hatoba.runtime.files import ContainerFiles
from hatoba.runtime.forkserver import ForkServer

if TYPE_CHECKING:
    from hatoba.store.etcd import EtcdCluster

log = logging.getLogger("hatoba.service")

DEFAULT_ROOT = "/var/lib/hatoba"
DEFAULT_RUN_ROOT = "/run/hatoba"
CONFIG_FILE = "daemon.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="hatoba service",
        description="Run the hatoba engine in the foreground",
        epilog="hatoba service install|uninstall [--help]: write or remove its systemd unit",
    )
    p.add_argument("--root", default=os.environ.get("HATOBA_ROOT", DEFAULT_ROOT))
    p.add_argument("--run-root", default=os.environ.get("HATOBA_RUN_ROOT", DEFAULT_RUN_ROOT))
    p.add_argument(
        "--resolv-conf",
        default=os.environ.get("HATOBA_RESOLV_CONF", "/etc/resolv.conf"),
        help="the host resolver configuration copied into containers",
    )
    p.add_argument(
        "--dns-timeout",
        type=float,
        default=float(os.environ.get("HATOBA_DNS_TIMEOUT", "4")),
        help="seconds the embedded DNS waits for each upstream server",
    )
    p.add_argument(
        "--cluster",
        default=os.environ.get("HATOBA_CLUSTER", ""),
        metavar="etcd://HOST:PORT[,HOST:PORT...]",
        help="the etcd cluster store shared with other hosts (overlay networks)",
    )
    p.add_argument(
        "--advertise-addr",
        default=os.environ.get("HATOBA_ADVERTISE_ADDR", ""),
        metavar="IP",
        help="the underlay address other hosts reach this one at (default: the uplink's)",
    )
    p.add_argument(
        "--cluster-ttl",
        type=int,
        default=int(os.environ.get("HATOBA_CLUSTER_TTL", "10")),
        metavar="SECONDS",
        help="the lease after which other hosts drop this one's endpoints (default 10)",
    )
    p.add_argument(
        "--cgroup-parent",
        default=os.environ.get("HATOBA_CGROUP_PARENT"),
        help="the folder of containers' cgroups in each cgroup hierarchy (default hatoba)",
    )
    p.add_argument("--debug", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    notify_socket = take_notify_socket()
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if os.geteuid() != 0:
        print("hatoba service: must run as root", file=sys.stderr)
        return 1
    # Everything the service and its shims write is root's alone (state database, logs, OCI
    # bundles hold containers' environments); what containers must read (their /etc files,
    # the hostfs root, image layers) is given its mode explicitly.
    os.umask(0o077)
    root, run_root = Path(args.root).resolve(), Path(args.run_root).resolve()
    try:
        config = read_config(root / CONFIG_FILE)
    except BadConfig as exc:
        print(f"hatoba service: {exc.message}", file=sys.stderr)
        return 1
    for private in (root, run_root):
        private.mkdir(mode=0o700, parents=True, exist_ok=True)
        private.chmod(0o700)  # also closes the roots of an install made before they were private
    # every container with embedded DNS holds sockets here; the hard limit is ours to use
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    forkserver = ForkServer.start()
    # locked after the fork: neither the fork server nor the shims it forks may inherit the
    # lock, or a killed service could not start again while its containers run
    lock = _single_instance(run_root)
    if lock is None:
        forkserver.close()
        return ALREADY_RUNNING
    try:
        return asyncio.run(
            _serve(
                root,
                run_root,
                Path(args.resolv_conf),
                forkserver,
                args.dns_timeout,
                notify_socket,
                args,
                config,
            )
        )
    finally:
        forkserver.close()
        os.close(lock)


def read_config(path: Path) -> DaemonConfig:
    """`<root>/daemon.json`, Docker's daemon configuration file (the defaults without one)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return DaemonConfig()
    except OSError as exc:
        raise BadConfig(f"unable to read {path}: {exc.strerror}") from None
    return parse_config(text, str(path))


def _single_instance(run_root: Path) -> int | None:
    fd = os.open(run_root / "hatoba.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = (
            (run_root / "hatoba.pid").read_text().strip()
            if (run_root / "hatoba.pid").exists()
            else "?"
        )
        print(f"hatoba service: already running in {run_root} (pid {pid})", file=sys.stderr)
        os.close(fd)
        return None
    (run_root / "hatoba.pid").write_text(f"{os.getpid()}\n")
    return fd


def _arm_crash_point(at: str) -> None:
    """Chaos tests only: die by SIGKILL at the `at`-th crash point reached from now on
    (engine/faults.py), saying which one in the log first."""
    if not at:
        return
    from hatoba.engine import faults

    remaining = int(at)

    def count(point: str) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            log.warning("crash point %s reached: killing the service", point)
            os.kill(os.getpid(), signal.SIGKILL)

    faults.install(count)


async def _serve(
    root: Path,
    run_root: Path,
    resolv_conf: Path,
    forkserver: ForkServer,
    dns_timeout: float,
    notify_socket: str | None,
    args: argparse.Namespace,
    config: DaemonConfig,
) -> int:
    from hatoba.api.app import App
    from hatoba.api.attach import Attacher
    from hatoba.api.clusterwatch import ClusterFollower
    from hatoba.api.collector import QuietCollector
    from hatoba.api.events import EventLog
    from hatoba.api.execs import Execs
    from hatoba.api.health import HealthChecks
    from hatoba.api.linkwatch import LinkWatch
    from hatoba.api.runner import EngineRunner
    from hatoba.api.supervisor import Supervisor
    from hatoba.dnsserver import DnsServer
    from hatoba.engine.ports import NO_CLUSTER
    from hatoba.images.api_view import ApiImages
    from hatoba.kernel.instruments import KernelInstruments
    from hatoba.kernel.link_events import LinkEvents
    from hatoba.kernel.meters import KernelMeters
    from hatoba.kernel.netns import release_shared_dir
    from hatoba.local import open_local

    started = time.time()
    loop = asyncio.get_running_loop()
    dns = DnsServer(loop, forkserver.nft, upstream_timeout=dns_timeout)
    cluster = _cluster(args, root) if args.cluster else None
    local = open_local(
        root,
        run_root,
        resolv_conf,
        forkserver,
        dns,
        cluster or NO_CLUSTER,
        config,
        args.cgroup_parent,
    )
    engine, runtime, paths = local.engine, local.runtime, local.paths
    runner = EngineRunner()
    collector = QuietCollector(runner)
    collector.start()  # before the restore: none of its objects is looked at twice
    try:
        running = await runner.call(engine.bootstrap)
    except BadConfig as exc:
        print(f"hatoba service: {exc.message}", file=sys.stderr)
        await collector.aclose()
        runner.shutdown()
        await dns.aclose()
        local.close()
        return 1
    follower = ClusterFollower(engine, runner)
    if cluster is not None:
        # after bootstrap: the first view the engine follows finds its own records in place
        cluster.on_change = follower.changed
        cluster.start()
    events = EventLog()
    events.follow(engine, loop)
    health = HealthChecks(engine, runner, runtime, str(run_root))
    supervisor = Supervisor(engine, runner, health, events)
    for cid in running:
        supervisor.watch(engine.state.containers[cid])
    # before the socket answers, as dockerd restarts containers before it serves
    await supervisor.restarts.at_service_start()
    local.firewall.start_watch(loop, engine.firewall_state)
    links = LinkWatch(engine, runner, LinkEvents())
    _arm_crash_point(os.environ.get("HATOBA_CRASH_AT", ""))

    stop = asyncio.Event()
    reset_requested = False

    def shutdown_after_reset() -> None:
        nonlocal reset_requested
        reset_requested = True
        loop.call_later(0.05, stop.set)

    attacher = Attacher(runtime)
    app = App(
        engine=engine,
        runner=runner,
        supervisor=supervisor,
        attacher=attacher,
        execs=Execs(runtime, str(run_root)),
        io=runtime,
        images=ApiImages(local.images),
        started=started,
        shutdown=shutdown_after_reset,
        instruments=KernelInstruments(local.firewall),
        meters=KernelMeters(),
        events=events,
        files=ContainerFiles(runtime, local.forkserver),
    )
    server = app.server()
    socket_path = run_root / "hatoba.sock"
    await server.listen(str(socket_path))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("hatoba service ready on %s (root %s)", socket_path, root)
    try:
        notify_ready(notify_socket)
    except OSError as exc:
        log.warning("could not tell %s that the service is ready: %s", notify_socket, exc)
    await stop.wait()

    await server.close()
    await supervisor.close()
    if cluster is not None:
        cluster.close()
    await follower.aclose()
    links.close()
    local.firewall.stop_watch()
    await collector.aclose()
    runner.shutdown()
    app.image_runner.shutdown()
    await dns.aclose()
    local.close()
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    if reset_requested:
        release_shared_dir(str(paths.netns_dir))
        for leftover in ("netns", "crun", "hostfs", "containers"):
            shutil.rmtree(run_root / leftover, ignore_errors=True)
        for state in ("containers", "images", "volumes"):
            shutil.rmtree(root / state, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (run_root / "hatoba.pid").unlink()
    return 0


def _cluster(args: argparse.Namespace, root: Path) -> EtcdCluster:
    """The cluster store adapter (imported only here: a host of its own loads no etcd
    client). This host's id is kept in the root, so a restart is the same host."""
    import platform
    from ipaddress import IPv4Address

    from hatoba.kernel.host import uplink_address
    from hatoba.store.etcd import EtcdCluster, parse_cluster_url

    parse_cluster_url(args.cluster)
    if args.advertise_addr:
        advertise = IPv4Address(args.advertise_addr)
    else:
        found = uplink_address()
        if found is None:
            raise SystemExit("hatoba service: --cluster needs --advertise-addr (no uplink found)")
        advertise = found
    id_file = root / "cluster-host-id"
    try:
        host_id = id_file.read_text().strip()
    except FileNotFoundError:
        host_id = secrets.token_hex(6)
        id_file.write_text(host_id + "\n")
    if args.cluster_ttl < 2:
        raise SystemExit("hatoba service: --cluster-ttl must be at least 2 seconds")
    return EtcdCluster(args.cluster, host_id, advertise, name=platform.node(), ttl=args.cluster_ttl)


if __name__ == "__main__":
    raise SystemExit(main())
