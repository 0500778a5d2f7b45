"""run/create flags → the create request docker 20.10 sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hatoba.cli.errors import CliError, Reported, UsageError
from hatoba.cli.parsing import Parser
from hatoba.cli.runconfig import add_flags, create_body


def body(*args: str, detach: bool | None = None) -> dict[str, Any]:
    p = Parser("hatoba run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Run", short_help=False)
    p.flag("-d", "--detach", help="detach")
    add_flags(p)
    ns = p.parse_until_positional(list(args))
    detached = ns.detach if detach is None else detach
    return create_body(ns, "hatoba run", detach=detached, stdin_once=not detached)


def test_everything_after_the_image_is_the_command() -> None:
    b = body("--rm", "alpine", "ping", "-c", "1", "-e", "x", "--rm")
    assert b["Image"] == "alpine"
    assert b["Cmd"] == ["ping", "-c", "1", "-e", "x", "--rm"]
    assert b["Env"] is None


def test_defaults_of_an_attached_run() -> None:
    b = body("alpine:latest")
    assert b["Cmd"] is None
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, True, True)
    assert (b["Tty"], b["OpenStdin"], b["StdinOnce"]) == (False, False, False)
    assert b["Labels"] == {}
    assert "ExposedPorts" not in b
    assert "StopSignal" not in b and "StopTimeout" not in b and "MacAddress" not in b
    host = b["HostConfig"]
    assert host["NetworkMode"] == "default"
    assert host["PortBindings"] == {}
    assert host["AutoRemove"] is False
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == ([], [], [])
    assert host["ExtraHosts"] is None
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}


def test_interactive_tty_run_and_detached_run() -> None:
    b = body("-it", "alpine", "sh")
    assert (b["AttachStdin"], b["OpenStdin"], b["StdinOnce"], b["Tty"]) == (True, True, True, True)
    b = body("-itd", "alpine")
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, False, False)
    assert (b["OpenStdin"], b["StdinOnce"], b["Tty"]) == (True, False, True)


def test_all_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("NOT_SET", raising=False)
    b = body(
        "-d", "--rm", "--name", "web", "--net=sample", "--network-alias", "svc",
        "--net-alias=svc2", "--ip", "172.18.0.50", "-h", "myhost", "-e", "A=1", "-eB=2",
        "--env", "FROM_HOST", "-e", "NOT_SET", "-w", "/tmp", "-u", "1000:1000",
        "--dns", "9.9.9.9", "--dns-search", "example.org", "--dns-option", "ndots:2",
        "--add-host", "foo:10.1.2.3", "-p", "8000:80", "-p127.0.0.1:5353:53/udp", "-P",
        "--label", "k=v", "-l", "flag", "--entrypoint", "/bin/sh", "--stop-signal", "SIGINT",
        "--stop-timeout", "5", "--mac-address", "02:00:00:00:00:01", "httpd:latest", "-c",
        "echo hi",
    )  # fmt: skip
    assert b["Hostname"] == "myhost"
    assert b["User"] == "1000:1000"
    assert b["WorkingDir"] == "/tmp"
    assert b["Env"] == ["A=1", "B=2", "FROM_HOST=yes", "NOT_SET"]
    assert b["Entrypoint"] == ["/bin/sh"]
    assert b["Cmd"] == ["-c", "echo hi"]
    assert b["Labels"] == {"k": "v", "flag": ""}
    assert b["StopSignal"] == "SIGINT"
    assert b["StopTimeout"] == 5
    assert b["MacAddress"] == "02:00:00:00:00:01"
    assert b["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    host = b["HostConfig"]
    assert host["NetworkMode"] == "sample"
    assert host["AutoRemove"] is True
    assert host["PublishAllPorts"] is True
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
    }
    assert host["Dns"] == ["9.9.9.9"]
    assert host["DnsSearch"] == ["example.org"]
    assert host["DnsOptions"] == ["ndots:2"]
    assert host["ExtraHosts"] == ["foo:10.1.2.3"]
    assert b["NetworkingConfig"] == {
        "EndpointsConfig": {
            "sample": {"IPAMConfig": {"IPv4Address": "172.18.0.50"}, "Aliases": ["svc", "svc2"]}
        }
    }


def test_init_and_group_add_as_docker_sends_them() -> None:
    host = body("alpine")["HostConfig"]
    assert "Init" not in host and host["GroupAdd"] is None
    host = body("--init", "--group-add", "wheel", "--group-add", "7", "alpine")["HostConfig"]
    assert host["Init"] is True and host["GroupAdd"] == ["wheel", "7"]


def test_a_container_network_mode_is_not_a_network_and_gets_no_alias() -> None:
    b = body("--net", "container:web", "alpine")
    assert b["HostConfig"]["NetworkMode"] == "container:web"
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}
    with pytest.raises(Reported, match="network-scoped aliases are only supported"):
        body("--net", "container:web", "--network-alias", "x", "alpine")


def test_every_network_given_is_attached_the_first_with_ip_and_aliases() -> None:
    b = body("--network", "front", "--net=back", "--ip", "10.1.0.5", "--net-alias", "w", "alpine")
    assert b["HostConfig"]["NetworkMode"] == "front"
    assert b["NetworkingConfig"] == {
        "EndpointsConfig": {
            "front": {"IPAMConfig": {"IPv4Address": "10.1.0.5"}, "Aliases": ["w"]},
            "back": {},
        }
    }


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        (["a", "a"], 'network "a" is specified multiple times'),
        (
            ["a", "host"],
            "conflicting options: cannot attach both user-defined and non-user-defined",
        ),
        (["bridge", "container:web"], None),
    ],
    ids=["twice", "mixed", "both-predefined"],
)
def test_networks_docker_would_not_attach_together(
    networks: list[str], message: str | None
) -> None:
    args = [arg for name in networks for arg in ("--network", name)]
    if message is None:  # the service decides (host and none are exclusive)
        assert list(body(*args, "alpine")["NetworkingConfig"]["EndpointsConfig"]) == networks
        return
    with pytest.raises(Reported, match=message):
        body(*args, "alpine")


def test_empty_entrypoint_clears_the_images() -> None:
    assert body("--entrypoint", "", "alpine")["Entrypoint"] == [""]


@pytest.mark.parametrize(
    ("spec", "bindings"),
    [
        ("80", {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
        ("8000-8001:80-81", {
            "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
            "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
        }),
        ("8000-8010:80", {"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}]}),
        ("[::1]:8080:80/TCP", {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}),
        ("0.0.0.0::80", {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}]}),
    ],
)  # fmt: skip
def test_publish_specs(spec: str, bindings: dict[str, Any]) -> None:
    b = body("-p", spec, "httpd")
    assert b["HostConfig"]["PortBindings"] == bindings
    assert b["ExposedPorts"] == {port: {} for port in bindings}


def test_the_same_port_published_twice_keeps_both_bindings() -> None:
    b = body("-p", "8000:80", "-p", "127.0.0.1:8001:80", "--expose", "90-91/udp", "httpd")
    assert b["HostConfig"]["PortBindings"]["80/tcp"] == [
        {"HostIp": "", "HostPort": "8000"},
        {"HostIp": "127.0.0.1", "HostPort": "8001"},
    ]
    assert b["ExposedPorts"] == {"80/tcp": {}, "90/udp": {}, "91/udp": {}}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-p", "abc"], "invalid containerPort: abc"),
        (["-p", "x:80"], "invalid hostPort: x"),
        (["-p", "1.2.3:80:80"], "invalid IP address: 1.2.3"),
        (["-p", "80/xyz"], "invalid proto: xyz"),
        (["-p", "8000-8001:80-82"], "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),  # noqa: E501
        (["--expose", "1:2"], "invalid port format for --expose: 1:2"),
        (["--net", "bridge", "--network-alias", "foo"], "network-scoped aliases are only supported for user-defined networks"),  # noqa: E501
    ],
)  # fmt: skip
def test_run_errors_are_reported_with_the_help_line(flags: list[str], message: str) -> None:
    with pytest.raises(Reported) as info:
        body(*flags, "alpine")
    assert info.value.message == f"hatoba: {message}.\nSee 'hatoba run --help'."
    assert info.value.code == 125


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dns", "nope"], 'invalid argument "nope" for "--dns" flag: nope is not an ip address'),
        (["--add-host", "foo"], 'invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"'),  # noqa: E501
        (["--add-host", "foo:x"], 'invalid argument "foo:x" for "--add-host" flag: invalid IP address in add-host: "x"'),  # noqa: E501
        (["-e", "=x"], 'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_flag_values_are_flag_errors(flags: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        body(*flags, "alpine")
    assert info.value.message == f"{message}\nSee 'hatoba run --help'."
    assert info.value.code == 125


def test_aliases_and_ip_without_a_network_are_ignored_as_by_dockerd() -> None:
    b = body("--network-alias", "foo", "--ip", "172.17.0.50", "alpine")
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}


def test_ip6_goes_with_ip_into_the_endpoints_ipam_config() -> None:
    b = body("--net", "dual", "--ip", "10.0.0.5", "--ip6", "fd00::5", "alpine")
    assert b["NetworkingConfig"] == {
        "EndpointsConfig": {
            "dual": {"IPAMConfig": {"IPv4Address": "10.0.0.5", "IPv6Address": "fd00::5"}}
        }
    }
    alone = body("--net", "dual", "--ip6", "fd00::5", "alpine")
    assert alone["NetworkingConfig"]["EndpointsConfig"]["dual"] == {
        "IPAMConfig": {"IPv6Address": "fd00::5"}
    }


def test_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSED", "through")
    monkeypatch.delenv("ABSENT", raising=False)
    env = tmp_path / "env"
    env.write_text("\ufeff# comment\n\n  A=1\nB= spaced value \nPASSED\nABSENT\n")
    b = body("--env-file", str(env), "-e", "C=3", "alpine")
    assert b["Env"] == ["A=1", "B= spaced value ", "PASSED=through", "C=3"]
    env.write_text("BAD KEY=1\n")
    with pytest.raises(CliError, match="variable 'BAD KEY' contains whitespaces"):
        body("--env-file", str(env), "alpine")
    with pytest.raises(CliError, match="open /nonexistent: no such file or directory"):
        body("--env-file", "/nonexistent", "alpine")


def test_health_flags_as_docker_sends_them() -> None:
    b = body(
        "--health-cmd", "curl -f localhost || exit 1", "--health-interval", "1m30s",
        "--health-timeout=100ms", "--health-start-period", "2s", "--health-retries", "4", "httpd",
    )  # fmt: skip
    assert b["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f localhost || exit 1"],
        "Interval": 90_000_000_000,
        "Timeout": 100_000_000,
        "StartPeriod": 2_000_000_000,
        "Retries": 4,
    }
    # unset fields are left out (Go's omitempty): the image's fill them in
    assert body("--health-interval", "5s", "httpd")["Healthcheck"] == {"Interval": 5_000_000_000}
    assert body("--no-healthcheck", "httpd")["Healthcheck"] == {"Test": ["NONE"]}
    assert "Healthcheck" not in body("httpd")


@pytest.mark.parametrize(
    ("flag", "policy"),
    [
        ("always", {"Name": "always", "MaximumRetryCount": 0}),
        ("on-failure:2", {"Name": "on-failure", "MaximumRetryCount": 2}),
        ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
        # the name is the service's to check, as dockerd checks it
        ("sometimes", {"Name": "sometimes", "MaximumRetryCount": 0}),
    ],
)
def test_restart_flag(flag: str, policy: dict[str, Any]) -> None:
    assert body("--restart", flag, "alpine")["HostConfig"]["RestartPolicy"] == policy


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rm", "--restart", "always"], "Conflicting options: --restart and --rm"),
        (["--restart", "on-failure:x"], "maximum retry count must be an integer"),
        (["--restart", "on-failure:1:2"], "invalid restart policy format"),
        (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),  # noqa: E501
        (["--health-interval", "-1s"], "--health-interval cannot be negative"),
        (["--health-timeout", "-1s"], "--health-timeout cannot be negative"),
        (["--health-start-period", "-1s"], "--health-start-period cannot be negative"),
        (["--health-retries", "-1"], "--health-retries cannot be negative"),
    ],
)  # fmt: skip
def test_health_and_restart_errors_are_dockers(flags: list[str], message: str) -> None:
    with pytest.raises(Reported) as info:
        body(*flags, "alpine")
    assert info.value.message == f"hatoba: {message}.\nSee 'hatoba run --help'."
    assert info.value.code == 125


def test_a_bad_duration_is_a_flag_error_with_gos_reason() -> None:
    with pytest.raises(UsageError) as info:
        body("--health-interval", "5", "alpine")
    assert info.value.message == (
        'invalid argument "5" for "--health-interval" flag: '
        "time: missing unit in duration \"5\"\nSee 'hatoba run --help'."
    )
    assert body("--rm", "--restart", "no", "alpine")["HostConfig"]["AutoRemove"] is True


def test_storage_flags_as_docker_sends_them() -> None:
    b = body(
        "-v", "/srv:/data:ro", "-v", "/anon", "-v", "cache:/cache",
        "--mount", 'type=bind,src=/srv,dst=/x,readonly,bind-propagation=rslave',
        "--mount", "type=volume,source=v1,target=/v,volume-nocopy,volume-label=a=b",
        "--mount", "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
        "--tmpfs", "/run:size=1m", "--tmpfs", "/cache2",
        "--volumes-from", "other:ro", "--volume-driver", "local",
        "alpine",
    )  # fmt: skip
    host = b["HostConfig"]
    assert host["Binds"] == ["/srv:/data:ro", "cache:/cache"]
    assert b["Volumes"] == {"/anon": {}}
    assert host["Mounts"] == [
        {"Type": "bind", "Source": "/srv", "Target": "/x", "ReadOnly": True,
         "BindOptions": {"Propagation": "rslave"}},
        {"Type": "volume", "Source": "v1", "Target": "/v",
         "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}, "DriverConfig": {}}},
        {"Type": "tmpfs", "Target": "/t",
         "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1770}},
    ]  # fmt: skip
    assert host["Tmpfs"] == {"/run": "size=1m", "/cache2": ""}
    assert host["VolumesFrom"] == ["other:ro"]
    assert host["VolumeDriver"] == "local"
    nothing = body("alpine")
    assert nothing["Volumes"] is None and nothing["HostConfig"]["Binds"] is None
    assert "Mounts" not in nothing["HostConfig"] and "Tmpfs" not in nothing["HostConfig"]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("type=bind", "target is required"),
        ("type=,dst=/x", "type is required"),
        ("dst=/x,readonly=maybe", "invalid value for readonly: maybe"),
        ("dst=/x,colour=blue", "unexpected key 'colour' in 'colour=blue'"),
        ("dst=/x,shiny", "invalid field 'shiny' must be a key=value pair"),
        ("type=bind,dst=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
        ("dst=/x,bind-propagation=rslave", "cannot mix 'bind-*' options with mount type 'volume'"),
        ("dst=/x,tmpfs-size=1g", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
        ("type=tmpfs,dst=/x,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
        ("type=tmpfs,dst=/x,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
    ],
)
def test_bad_mount_flags_are_flag_errors_with_dockers_reasons(spec: str, reason: str) -> None:
    with pytest.raises(UsageError) as error:
        body("--mount", spec, "alpine")
    assert error.value.message.startswith(
        f'invalid argument "{spec}" for "--mount" flag: {reason}\n'
    )


def test_security_and_limit_flags_as_docker_sends_them() -> None:
    host = body(
        "--cap-add", "NET_ADMIN", "--cap-drop", "mknod", "--privileged",
        "--security-opt", "no-new-privileges", "--security-opt", "systempaths=unconfined",
        "--read-only", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.sem=1 2 3 4",
        "--device", "/dev/fuse", "--device", "/dev/null:/dev/n:r",
        "--device-cgroup-rule", "c 42:* rmw", "--oom-score-adj", "-10",
        "-m", "10m", "--memory-swap", "-1", "--cpus", "1.5", "-c", "512",
        "--cpu-period", "50000", "--cpu-quota", "20000", "--pids-limit", "30",
        "--ulimit", "nofile=10:20", "--shm-size", "1g", "alpine",
    )["HostConfig"]  # fmt: skip
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["mknod"]
    assert host["Privileged"] is True and host["ReadonlyRootfs"] is True
    # systempaths=unconfined is the client's: no masked or read-only paths
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["MaskedPaths"] == [] and host["ReadonlyPaths"] == []
    assert host["Sysctls"] == {"net.ipv4.ip_forward": "1", "kernel.sem": "1 2 3 4"}
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "r"},
    ]
    assert host["DeviceCgroupRules"] == ["c 42:* rmw"] and host["OomScoreAdj"] == -10
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["CpuShares"]) == (
        10 << 20,
        -1,
        1_500_000_000,
        512,
    )
    assert (host["CpuPeriod"], host["CpuQuota"], host["PidsLimit"]) == (50000, 20000, 30)
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 20, "Soft": 10}]
    assert host["ShmSize"] == 1 << 30


def test_without_those_flags_docker_sends_zero_values() -> None:
    host = body("alpine")["HostConfig"]
    assert (host["CapAdd"], host["CapDrop"], host["SecurityOpt"], host["Sysctls"]) == (
        None,
        None,
        None,
        None,
    )
    assert host["Privileged"] is False and host["Devices"] == []
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"], host["ShmSize"]) == (0, 0, 0, 0)
    assert "MaskedPaths" not in host


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sysctl", "kernel.pid_max=5"], "invalid argument \"kernel.pid_max=5\" for \"--sysctl\" flag: sysctl 'kernel.pid_max=5' is not whitelisted"),  # noqa: E501
        (["--ulimit", "nofile=2:1"], 'invalid argument "nofile=2:1" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 2 > 1'),  # noqa: E501
        (["-m", "lots"], "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"),  # noqa: E501
        (["--shm-size", "1x"], "invalid argument \"1x\" for \"--shm-size\" flag: invalid size: '1x'"),  # noqa: E501
        (["--cpus", "one"], 'invalid argument "one" for "--cpus" flag: failed to parse one as a rational number'),  # noqa: E501
        (["--pids-limit", "x"], 'invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax'),  # noqa: E501
        (["--device-cgroup-rule", "c 1:3"], "invalid argument \"c 1:3\" for \"--device-cgroup-rule\" flag: invalid device cgroup format 'c 1:3'"),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_knob_values_are_flag_errors(flags: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        body(*flags, "alpine")
    assert info.value.message == f"{message}\nSee 'hatoba run --help'."


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--security-opt", "nonsense"], 'Invalid --security-opt: "nonsense"'),
        (["--device", "/dev/fuse:/f:rwx"], "bad mode specified: rwx"),
        (["--device", "fuse"], "fuse is not an absolute path"),
    ],
)
def test_bad_security_flags_are_reported(flags: list[str], message: str) -> None:
    with pytest.raises(Reported) as info:
        body(*flags, "alpine")
    assert info.value.message == f"hatoba: {message}.\nSee 'hatoba run --help'."
