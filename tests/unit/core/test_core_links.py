"""Legacy links as Docker computes them (daemon/links/links.go, daemon/container_operations.go):
the variables, the /etc/hosts names, the stored and shown forms."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest

from hatoba.engine import links
from hatoba.engine.containers import CreateRequest
from hatoba.engine.engine import Engine
from hatoba.engine.processes import ExecRequest
from hatoba.errors import Conflict, InvalidArgument, NotFound
from hatoba.files.hosts import render_hosts
from hatoba.model.container import Container, ContainerConfig
from hatoba.model.launch import environment
from hatoba.model.links import hosts_names, link_environment, split_link_name, stored_form
from hatoba.model.network import NetworkSpec

ADDRESS = IPv4Address("172.17.0.2")


def test_one_port_and_the_linked_environment() -> None:
    env = link_environment("/web/db", ADDRESS, ["5432/tcp"], ["PATH=/bin", "PGDATA=/d", "HOME=/"])
    assert env == (
        "DB_PORT=tcp://172.17.0.2:5432",
        "DB_PORT_5432_TCP=tcp://172.17.0.2:5432",
        "DB_PORT_5432_TCP_ADDR=172.17.0.2",
        "DB_PORT_5432_TCP_PORT=5432",
        "DB_PORT_5432_TCP_PROTO=tcp",
        "DB_NAME=/web/db",
        # HOME and PATH are not passed on
        "DB_ENV_PGDATA=/d",
    )


def test_tcp_ports_first_and_a_run_of_consecutive_ports() -> None:
    env = link_environment("/web/my-db", ADDRESS, ["53/udp", "81/tcp", "80/tcp", "90/tcp"], [])
    # the alias in upper case with dashes as underscores; the lowest TCP port is the default
    assert env[0] == "MY_DB_PORT=tcp://172.17.0.2:80"
    ranges = [e for e in env if "START" in e or "_END" in e]
    assert ranges == [
        "MY_DB_PORT_80_TCP_START=tcp://172.17.0.2:80",
        "MY_DB_PORT_80_TCP_PORT_START=80",
        "MY_DB_PORT_80_TCP_END=tcp://172.17.0.2:81",
        "MY_DB_PORT_80_TCP_PORT_END=81",
    ]
    # the range is told after the port that ended it, as Docker does
    assert env.index(ranges[0]) > env.index("MY_DB_PORT_90_TCP_PROTO=tcp")
    assert env[-2:] == ("MY_DB_PORT_53_UDP_PROTO=udp", "MY_DB_NAME=/web/my-db")


def test_a_run_to_the_last_port() -> None:
    env = link_environment("/w/x", ADDRESS, ["1/tcp", "2/tcp", "3/tcp"], [])
    assert "X_PORT_1_TCP_END=tcp://172.17.0.2:3" in env
    assert link_environment("/w/x", ADDRESS, [], []) == ("X_NAME=/w/x",)


def test_names_and_forms() -> None:
    assert hosts_names("pg", "0123456789ab", "db") == "pg 0123456789ab db"
    assert hosts_names("db", "0123456789ab", "db") == "db 0123456789ab"
    assert stored_form("db", "web", "pg") == "/db:/web/pg"
    assert split_link_name("/web/pg") == ("web", "pg")
    assert split_link_name("web") == ("", "web")


def test_links_go_under_the_image_and_the_user() -> None:
    env = environment(["A=image"], ["B=user"], "h", False, "/root", ["A=link", "B=link", "C=link"])
    assert "A=image" in env and "B=user" in env and "C=link" in env


def test_hosts_lines_after_added_hosts() -> None:
    hosts = render_hosts(
        "web", [IPv4Address("172.17.0.3")], ["gw:10.0.0.1"], linked=[("pg 0123 db", ADDRESS)]
    )
    tail = hosts.splitlines()[-3:]
    assert tail == ["10.0.0.1\tgw", "172.17.0.2\tpg 0123 db", "172.17.0.3\tweb"]


# --- the engine ---------------------------------------------------------------------------------


def create(
    engine: Engine, name: str, net: str = "default", linked: tuple[str, ...] = (), **kw: Any
) -> Container:
    cfg = ContainerConfig(image="hostfs", cmd=("sleep", "infinity"), network_mode=net, **kw)
    return engine.create_container(CreateRequest(cfg, name=name, links=linked))


def test_a_start_gives_the_variables_and_the_hosts_line(world) -> None:
    engine, _, _, runtime = world
    db = create(engine, "db", env=("SECRET=s3",), exposed_ports=("5432/tcp",))
    engine.start(db.id)
    web = create(engine, "web", linked=("db:pg",))
    engine.start(web.id)
    address = engine.state.container("db").endpoints[0].ipv4
    env = runtime.launched[-1].process.env
    assert f"PG_PORT=tcp://{address}:5432" in env
    assert "PG_NAME=/web/pg" in env and "PG_ENV_SECRET=s3" in env
    hosts = runtime.files[(web.id, "/etc/hosts")]
    assert f"{address}\tpg {db.hostname} db\n" in hosts
    # an exec gets them too, as in Docker
    exec_env = engine.exec_process("web", ExecRequest(("env",))).env
    assert "PG_NAME=/web/pg" in exec_env


def test_links_are_kept_by_id_and_shown_by_name(world) -> None:
    engine, *_ = world
    db = create(engine, "db")
    web = create(engine, "web", linked=("db:pg", "db"))
    assert [(k.container_id, k.alias) for k in web.config.links] == [(db.id, "pg"), (db.id, "db")]
    engine.rename("db", "data")
    assert links.shown(engine.state, engine.state.container("web")) == [
        "/data:/web/pg",
        "/data:/web/db",
    ]
    assert links.names_of(engine.state, engine.state.container("data")) == ["/web/pg", "/web/db"]


@pytest.mark.parametrize(
    ("net", "linked", "error"),
    [
        ("default", ("nothere:x",), "could not get container for nothere: No such container"),
        ("host", ("db",), "host type networking can't be used with links"),
        ("none", ("db",), "hatoba supports links on the default bridge"),
        ("container:db", ("db",), "container type network can't be used with links"),
        ("default", ("hostly",), "host type networking can't be used with links"),
    ],
)
def test_refused_at_create_with_nothing_made(world, net, linked, error) -> None:
    engine, *_ = world
    create(engine, "db")
    create(engine, "hostly", net="host")
    before = set(engine.state.containers)
    with pytest.raises(InvalidArgument, match=error):
        create(engine, "web", net=net, linked=linked)
    assert set(engine.state.containers) == before


def test_two_links_of_one_alias_conflict(world) -> None:
    engine, *_ = world
    create(engine, "db")
    create(engine, "db2")
    with pytest.raises(Conflict, match='The name "/web/x" is already in use'):
        create(engine, "web", linked=("db:x", "db2:x"))


def test_a_user_network_takes_no_legacy_links(world) -> None:
    engine, *_ = world
    engine.create_network(NetworkSpec(name="app"))
    create(engine, "db")
    web = create(engine, "web", net="app", linked=("db:pg",))
    assert web.config.links == ()


def test_a_stopped_linked_container_fails_the_start(world) -> None:
    engine, _, _, runtime = world
    create(engine, "db")
    web = create(engine, "web", linked=("db:pg",))
    launched = len(runtime.launched)
    stopped = "^Cannot link to a non running container: /db AS /web/pg$"
    with pytest.raises(InvalidArgument, match=stopped):
        engine.start(web.id)
    assert len(runtime.launched) == launched
    assert not engine.state.container("web").state.running


def test_rm_link(world) -> None:
    engine, *_ = world
    create(engine, "db")
    create(engine, "web", linked=("db:pg",))
    with pytest.raises(Conflict, match="cannot remove the default link name"):
        engine.remove_link("web")
    with pytest.raises(NotFound, match="No such container: /web/nope"):
        engine.remove_link("/web/nope")
    with pytest.raises(NotFound, match="Cannot get parent /nobody"):
        engine.remove_link("/nobody/pg")
    assert engine.remove_link("/web/pg").config.links == ()
    assert engine.state.container("web").config.links == ()
