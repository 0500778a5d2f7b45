"""A topology for people: a tree for terminals, a Graphviz graph (DOT) for pictures, and the
HTML page around the picture (`--format html` and the `--watch` page).

Pure text in, text out: turning DOT into SVG is the `dot` program's job (the CLI runs it).
Standard library only, so the CLI may import it.
"""

from __future__ import annotations

import html

from hatoba.observe.topology import Attachment, NetworkNode, PublishedPort, Topology, Uplink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    Node = tuple[str, list["Node"]]

# --- a tree for terminals -----------------------------------------------------------------


def text(topology: Topology) -> str:
    children: list[Node] = [(_published_line(p), []) for p in topology.published]
    children += [_network_node(n) for n in topology.networks]
    return "\n".join([_uplink_line(topology.uplink), *_branches(children, "")]) + "\n"


def _branches(nodes: list[Node], prefix: str) -> Iterator[str]:
    for i, (line, children) in enumerate(nodes):
        last = i == len(nodes) - 1
        yield f"{prefix}{'└── ' if last else '├── '}{line}"
        yield from _branches(children, prefix + ("    " if last else "│   "))


def _uplink_line(uplink: Uplink) -> str:
    if not uplink.name:
        return "host: no default route"
    facts = [" ".join(["uplink", uplink.name, *uplink.addresses])]
    if uplink.mac:
        facts.append(f"mac {uplink.mac}")
    if uplink.mtu:
        facts.append(f"mtu {uplink.mtu}")
    if uplink.gateway:
        facts.append(f"default via {uplink.gateway}")
    return "host: " + ", ".join(facts)


def _published_line(port: PublishedPort) -> str:
    return (
        f"published {port.host_ip}:{port.host_port}/{port.protocol} → "
        f"{port.container} {port.address}:{port.container_port}"
    )


def _network_node(network: NetworkNode) -> Node:
    title = f"network {network.name} ({network.driver}{', internal' if network.internal else ''})"
    if network.bridge:
        title += f": {network.bridge} {network.gateway}".rstrip()
        if network.bridge_mac:
            title += f", mac {network.bridge_mac}"
    elif network.shares_host:
        title += ": the host's own stack"
    elif not network.gives_interfaces:
        title += ": loopback only"
    children: list[Node] = [(f"problem: {p}", []) for p in network.problems]
    children += [_attachment_node(a) for a in network.attachments]
    return title, children


def _attachment_node(a: Attachment) -> Node:
    if a.ifname:
        line = f"{a.veth} ⇄ {a.container} {a.ifname} {a.address}, mac {a.mac}"
    else:
        line = a.container if a.status == "running" else f"{a.container} ({a.status})"
    children: list[Node] = [(f"problem: {p}", []) for p in a.problems]
    if a.dns_names:
        children.append(("dns: " + ", ".join(a.dns_names), []))
    if a.shared_with:
        children.append(("shared with: " + ", ".join(a.shared_with), []))
    return line, children


# --- a graph for pictures -----------------------------------------------------------------

# (line, fill) per network, in order; Tableau's palette, which stays apart for most eyes
_COLOURS = (
    ("#4e79a7", "#dce6f1"),
    ("#59a14f", "#e0efdc"),
    ("#e15759", "#f9dcdc"),
    ("#b07aa1", "#efe3ec"),
    ("#f28e2b", "#fce6d0"),
    ("#76b7b2", "#e2f0ef"),
    ("#9c755f", "#ece3dd"),
    ("#edc948", "#fbf3d4"),
)
_GREY = ("#8c8c8c", "#eeeeee")
_FONT = "Helvetica,Arial,sans-serif"


def dot(topology: Topology) -> str:
    """Graphviz DOT, left to right: outside, the host (uplink, published ports, bridges,
    host-network containers), then the containers with one row per interface."""
    colours = {
        n.id: _COLOURS[i % len(_COLOURS)] if n.bridge else _GREY
        for i, n in enumerate(topology.networks)
    }
    out = [
        "digraph topology {",
        f'  graph [rankdir=LR, fontname="{_FONT}", fontsize=12, nodesep=0.25, ranksep=0.9,'
        ' bgcolor="white", pad=0.3];',
        f'  node [shape=plain, fontname="{_FONT}", fontsize=11];',
        f'  edge [fontname="{_FONT}", fontsize=9, arrowhead=none, penwidth=1.4];',
    ]
    uplink = topology.uplink
    if uplink.gateway:
        out.append(
            '  outside [shape=box, style="rounded,dashed", color="#8c8c8c", fontcolor="#555555",'
            f" label={_quote('outside via ' + uplink.gateway)}];"
        )
    out += ["  subgraph cluster_host {", '    label="host"; style="rounded"; color="#bbbbbb";']
    out.append(f"    uplink [label=<{_uplink_table(uplink)}>];")
    if topology.published:
        out.append(f"    published [label=<{_published_table(topology.published)}>];")
    for network in topology.networks:
        if network.bridge:
            out.append(f"    {_id('net', network.id)} [label=<{_bridge_table(network, colours)}>];")
    for network in (n for n in topology.networks if n.shares_host):
        for a in network.attachments:
            label = _container_table(a.container, a.status, ["the host's own stack"])
            out.append(f"    {_id('c', a.container_id)} [label=<{label}>];")
    out.append("  }")
    if uplink.gateway:
        out.append("  outside -> uplink;")
    out += _containers(topology, colours)
    out.append("}")
    return "\n".join(out) + "\n"


def _containers(topology: Topology, colours: dict[str, tuple[str, str]]) -> list[str]:
    """Container nodes (one per container, a row per interface) and the edges to them."""
    rows: dict[str, list[str]] = {}
    headers: dict[str, str] = {}
    edges: list[str] = []
    for network in topology.networks:
        if network.shares_host:
            continue
        line, fill = colours[network.id]
        source = _id("net", network.id)
        if network.bridge and network.masquerade:
            edges.append(
                f'  uplink -> {source} [style=dashed, color="{line}", label="masquerade",'
                f' fontcolor="{line}"];'
            )
        for a in network.attachments:
            node = _id("c", a.container_id)
            headers[node] = _header(a.container, a.status)
            cells = rows.setdefault(node, [])
            if a.ifname:
                cells.append(_interface_row(a, fill))
                edges.append(
                    f'  {source} -> {node}:{_port(a.ifname)}:w [color="{line}",'
                    f' label={_quote(a.veth)}, fontcolor="{line}"];'
                )
            elif network.bridge:  # a member that is not running: no veth
                edges.append(f'  {source} -> {node} [color="{line}", style=dotted];')
            elif not network.gives_interfaces:
                cells.append("<TD COLSPAN='2'>loopback only</TD>")
                # beside the other containers, not in front of the host
                edges.append(f"  uplink -> {node} [style=invis];")
            cells += [f"<TD COLSPAN='2'>{_problem(p)}</TD>" for p in a.problems]
            if a.shared_with:
                shared = _small("shared with " + ", ".join(a.shared_with))
                cells.append(f"<TD COLSPAN='2' ALIGN='LEFT'>{shared}</TD>")
    nodes = [
        f"  {node} [label=<{_table(headers[node], list(dict.fromkeys(cells)))}>];"
        for node, cells in rows.items()
    ]
    return nodes + edges + _dnat_edges(topology)


def _interface_row(a: Attachment, fill: str) -> str:
    detail = f"{_esc(a.address)}  {_esc(a.mac)}"
    if a.dns_names:
        dns = _small("dns " + ", ".join(a.dns_names))
        detail += f"<BR ALIGN='LEFT'/>{dns}<BR ALIGN='LEFT'/>"
    return (
        f"<TD BGCOLOR='{fill}' PORT='{_port(a.ifname)}'>{_esc(a.ifname)}</TD>"
        f"<TD ALIGN='LEFT'>{detail}</TD>"
    )


def _dnat_edges(topology: Topology) -> list[str]:
    """From each published port to the interface the firewall sends it to."""
    interfaces = {
        (n.name, a.container): (_id("c", a.container_id), a.ifname)
        for n in topology.networks
        for a in n.attachments
        if a.ifname
    }
    edges = []
    for port in topology.published:
        target = interfaces.get((port.network, port.container))
        if target is not None:
            row = _port(f"{port.host_ip}:{port.host_port}/{port.protocol}")
            edges.append(
                f"  published:{row}:e -> {target[0]}:{_port(target[1])}:w [style=dotted,"
                f' arrowhead=normal, color="#555555", label="DNAT {port.container_port}"];'
            )
    return edges


def _uplink_table(uplink: Uplink) -> str:
    rows = [f"<TD ALIGN='LEFT'>{_esc(a)}</TD>" for a in uplink.addresses]
    if uplink.mac:
        rows.append(f"<TD ALIGN='LEFT'>{_small('mac ' + uplink.mac)}</TD>")
    title = f"uplink {uplink.name}" if uplink.name else "no default route"
    return _table(f"<TD BGCOLOR='#eeeeee'><B>{_esc(title)}</B></TD>", rows)


def _published_table(ports: tuple[PublishedPort, ...]) -> str:
    rows = []
    for p in ports:
        key = f"{p.host_ip}:{p.host_port}/{p.protocol}"
        rows.append(f"<TD ALIGN='LEFT' PORT='{_port(key)}'>{_esc(key)} → {_esc(p.container)}</TD>")
    return _table("<TD BGCOLOR='#eeeeee'><B>published ports</B></TD>", rows)


def _bridge_table(network: NetworkNode, colours: dict[str, tuple[str, str]]) -> str:
    line, fill = colours[network.id]
    title = _esc(network.name) + (" <I>(internal)</I>" if network.internal else "")
    rows = [
        f"<TD ALIGN='LEFT'>{_esc(network.bridge)}  {_esc(network.gateway)}</TD>",
        f"<TD ALIGN='LEFT'>{_small('mac ' + network.bridge_mac)}</TD>",
    ]
    rows += [f"<TD>{_problem(p)}</TD>" for p in network.problems]
    header = f"<TD BGCOLOR='{fill}'><FONT COLOR='{line}'><B>{title}</B></FONT></TD>"
    return _table(header, rows, border=line)


def _container_table(name: str, state: str, lines: list[str]) -> str:
    cells = [f"<TD COLSPAN='2' ALIGN='LEFT'>{_esc(text)}</TD>" for text in lines]
    return _table(_header(name, state), cells)


def _header(name: str, state: str) -> str:
    title = f"<B>{_esc(name)}</B>" + ("" if state == "running" else f" <I>({_esc(state)})</I>")
    fill = "#f4f4f4" if state == "running" else "#fafafa"
    return f"<TD COLSPAN='2' BGCOLOR='{fill}'>{title}</TD>"


def _table(header: str, rows: list[str], border: str = "#999999") -> str:
    body = "".join(f"<TR>{row}</TR>" for row in rows)
    return (
        f"<TABLE BORDER='1' CELLBORDER='0' CELLSPACING='0' CELLPADDING='4' COLOR='{border}'>"
        f"<TR>{header}</TR>{body}</TABLE>"
    )


def _problem(text: str) -> str:
    return f"<FONT COLOR='#c00000'>{_esc(text)}</FONT>"


def _small(text: str) -> str:
    return f"<FONT POINT-SIZE='9' COLOR='#555555'>{_esc(text)}</FONT>"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _id(kind: str, ident: str) -> str:
    return f"{kind}_{ident[:16]}"


def _port(name: str) -> str:
    """A table cell's port name: letters, digits and underscores."""
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)


# --- a page around the picture ------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
h1 { font-size: 1.3rem; font-weight: 600; margin: 0 0 .2rem; }
#stamp { color: #666; font-size: .85rem; margin: 0 0 1rem; }
#picture svg { max-width: 100%; height: auto; }
pre { background: #f6f8fa; padding: .8rem 1rem; overflow: auto; font-size: .85rem; }
summary { cursor: pointer; color: #444; margin-top: 1rem; }
"""

# follows the watcher's event stream: each `topology` event brings the page's picture anew
_LIVE = """
<script>
const topology = document.getElementById("topology");
const stamp = document.getElementById("stamp");
const source = new EventSource("events");
source.addEventListener("topology", async () => {
  const answer = await fetch("fragment", {cache: "no-store"});
  if (answer.ok) {
    topology.innerHTML = await answer.text();
    stamp.textContent = "live, updated " + new Date().toLocaleTimeString();
  }
});
source.onerror = () => { stamp.textContent = "waiting for the hatoba watcher…"; };
</script>
"""


def fragment(topology: Topology, svg: str) -> str:
    """The picture (an SVG document, inlined) and the text tree under it."""
    picture = svg[svg.find("<svg") :] if "<svg" in svg else svg
    return (
        f'<div id="picture">{picture}</div>\n'
        f"<details><summary>As text</summary><pre>{_esc(text(topology))}</pre></details>\n"
    )


def page(body: str, stamp: str, *, live: bool = False) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>hatoba network topology</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<h1>hatoba network topology</h1>\n"
        f'<p id="stamp">{_esc(stamp)}</p>\n<div id="topology">\n{body}</div>\n'
        f"{_LIVE if live else ''}</body>\n</html>\n"
    )
