#!/usr/bin/env bash
# Idempotent: installs only what is missing. --dev adds what the tests and benchmarks use.
set -euo pipefail
cd "$(dirname "$0")/.."

# `run --init` runs tini-static (package tini); the demo asks the resolver with dig; hatoba
# capture compiles its filters with libpcap; network topology's pictures are laid out by
# Graphviz's dot; top runs procps' ps; each container's monitor (runtime/monitor.c) is compiled
# by gcc
runtime_pkgs=(iproute2 nftables libnftables1 crun busybox-static iputils-ping python3-venv tini
    dnsutils libpcap0.8 graphviz procps gcc libc6-dev)
# the host-firewall tests set iptables policies and run a private D-Bus in their sandboxes;
# bench.compose and the e2e tests run Debian's docker-compose (1.29) against hatoba's socket;
# the capture tests check hatoba's lines and filters against tcpdump and read its files with
# tshark; the capture benchmark runs iperf3; the overlay tests and demo-cluster run a real etcd
# (etcd-server) and ask it with etcdctl (etcd-client); the benchmarks measure podman 4.3
# (netavark, aardvark-dns, and runc as the reference containers.conf asks) beside hatoba
dev_pkgs=(conntrack dnsperf iperf3 iptables dbus-daemon docker-compose tcpdump tshark etcd-server
    etcd-client podman netavark aardvark-dns runc)

want=("${runtime_pkgs[@]}")
dev=0
if [[ "${1:-}" == "--dev" ]]; then dev=1; want+=("${dev_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# the client tests also drive the docker 20.10 CLI (Debian's docker.io): only its client binary
# is taken from the package, never installed (dockerd must not run here)
docker20=.tools/docker-20.10/docker
if ((dev)) && [[ ! -x $docker20 ]]; then
    deb=$(mktemp -d)
    if (cd "$deb" && { apt-get download -qq docker.io || { apt-get update -qq &&
        apt-get download -qq docker.io; }; }) >/dev/null 2>&1; then
        dpkg-deb --fsys-tarfile "$deb"/docker.io_*.deb | tar -x -C "$deb" ./usr/bin/docker
        mkdir -p "$(dirname $docker20)"
        mv "$deb/usr/bin/docker" $docker20
    else
        echo "apt cannot fetch docker.io: the tests of the docker 20.10 CLI will be skipped" >&2
    fi
    rm -rf "$deb"
fi

# Debian's own interpreter is built with PGO and LTO: every CLI command starts ~3 ms sooner
# than with a plain build (pyenv's), and the service runs faster; PYTHON=… chooses another
python=${PYTHON:-}
if [[ -z $python ]]; then
    python=python3
    if /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=/usr/bin/python3
    fi
fi
stamp=.venv/.installed
extra=
if ((dev)); then stamp+=-dev; extra="[dev]"; fi
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ".$extra"
    # the CLI starts once per command: compiled modules save it ~10 ms where the environment
    # forbids writing them on first use (PYTHONDONTWRITEBYTECODE)
    .venv/bin/python -m compileall -q src >/dev/null
    # setuptools' hook (distutils-precedence.pth) imports _distutils_hack at every start of
    # the environment's Python, ~1.2 ms of each CLI command; only builds need it, and pip
    # builds hatoba in an isolated environment of its own
    rm -f .venv/lib/python3*/site-packages/distutils-precedence.pth
    touch "$stamp"
fi

# each running container's monitor, a C program: a shim forked from Python would keep ~2.3 MB
# of its own for the container's whole life (runtime/shim.py)
monitor=.venv/libexec/hatoba-monitor
if [[ ! -x $monitor || src/hatoba/runtime/monitor.c -nt $monitor ]]; then
    mkdir -p .venv/libexec
    gcc -O2 -Wall -Wextra -Werror -o $monitor src/hatoba/runtime/monitor.c
fi
