from __future__ import annotations

from typing import Any

import pytest

from hatoba.cli.errors import CliError
from hatoba.cli.template import Template, TemplateError

NETWORK: dict[str, Any] = {
    "Name": "tiny",
    "Internal": True,
    "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.99.99.0/30"}]},
    "Containers": {
        "b": {"Name": "s2", "IPv4Address": "172.18.0.3/16"},
        "a": {"Name": "s1", "IPv4Address": "172.18.0.2/16"},
    },
    "Labels": {"com.example": "x"},
}
CONTAINER: dict[str, Any] = {
    "HostConfig": {
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8000"}]},
        "NetworkMode": "default",
    },
    "HostsPath": "/var/lib/hatoba/containers/x/hosts",
    "NetworkSettings": {"Networks": {"sample": {"IPAddress": "172.18.0.2", "Aliases": None}}},
}


@pytest.mark.parametrize(
    ("text", "data", "out"),
    [
        # the templates of the reference logs, with their outputs
        (
            "{{json .IPAM}}",
            NETWORK,
            '{"Driver":"default","Options":{},"Config":[{"Subnet":"10.99.99.0/30"}]}',
        ),
        ("{{json .IPAM.Config}}", NETWORK, '[{"Subnet":"10.99.99.0/30"}]'),
        ("{{.Internal}} {{json .IPAM.Config}}", NETWORK, 'true [{"Subnet":"10.99.99.0/30"}]'),
        (
            "{{json .HostConfig.PortBindings}} {{.HostConfig.NetworkMode}} {{.HostsPath}}",
            CONTAINER,
            '{"80/tcp":[{"HostIp":"","HostPort":"8000"}]} default /var/lib/hatoba/containers/x/hosts',  # noqa: E501
        ),
        ("{{.Names}} {{.Status}}", {"Names": "t2", "Status": "Created"}, "t2 Created"),
        # what people write in scripts
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", CONTAINER, "172.18.0.2"),
        ("{{range .Containers}}{{.Name}} {{end}}", NETWORK, "s1 s2 "),
        ("{{range $k, $v := .Containers}}{{$k}}={{$v.Name}};{{end}}", NETWORK, "a=s1;b=s2;"),
        ('{{index .Labels "com.example"}}', NETWORK, "x"),
        ("{{(index .IPAM.Config 0).Subnet}}", NETWORK, "10.99.99.0/30"),
        ('{{index (index .IPAM.Config 0) "Subnet"}}', NETWORK, "10.99.99.0/30"),
        ("{{if .Internal}}internal{{else}}external{{end}}", NETWORK, "internal"),
        ("{{if .Missing}}yes{{else}}no{{end}}", NETWORK, "no"),
        ("{{.Name | upper}}", NETWORK, "TINY"),
        ("{{len .Containers}}", NETWORK, "2"),
        ('{{join (split "a,b" ",") "-"}}', {}, "a-b"),
        (
            "{{.IPAM.Options}} {{.Nope}} {{.NetworkSettings.Networks.sample.Aliases}}",
            {**NETWORK, **CONTAINER},
            "map[] <no value> <nil>",
        ),
        ("a  {{- .Name -}}  b", NETWORK, "atinyb"),
        ("{{/* a comment */}}{{.}}", "x", "x"),
        ("{{with .IPAM}}{{.Driver}}{{end}}", NETWORK, "default"),
        ('{{printf "%s:%v" .Name .Internal}}', NETWORK, "tiny:true"),
        ('{{eq .Name "tiny"}}', NETWORK, "true"),
    ],
)
def test_templates(text: str, data: Any, out: str) -> None:
    assert Template(text).render(data) == out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Name", "unclosed action"),
        ("{{nosuch .Name}}", 'function "nosuch" not defined'),
        ("{{if .X}}open", "unexpected EOF in if"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{.A .B}}", "can't give argument to non-function .A"),
    ],
)
def test_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template(text)
        Template(text).render({})
    assert info.value.message == f"template parsing error: template: :1: {message}"


def test_range_over_a_scalar_fails() -> None:
    with pytest.raises(CliError):
        Template("{{range .Name}}{{end}}").render(NETWORK)
