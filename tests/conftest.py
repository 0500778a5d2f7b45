"""Suite-wide rules: root-only tests skip without root, and the machine must end as it began.

Every kernel test runs inside a throwaway Sandbox; this check catches any test (or product
code) that leaked a namespace, a link or an nftables table into the machine's own namespace.
"""

from __future__ import annotations

import os
import subprocess

import pytest


def _machine_state() -> dict[str, str]:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        except FileNotFoundError:
            return ""

    links = sorted(
        line.split(":")[1].strip().split("@")[0]
        for line in run("ip", "-o", "link", "show").splitlines()
        if ":" in line
    )
    return {
        "netns": run("ip", "netns", "list"),
        "links": " ".join(links),
        "nft": run("nft", "list", "ruleset"),
    }


_BASELINE: dict[str, str] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() == 0:
        _BASELINE.update(_machine_state())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _BASELINE:
        return
    after = _machine_state()
    leaked = {k: (_BASELINE[k], after[k]) for k in after if after[k] != _BASELINE[k]}
    if leaked:
        lines = [f"  {k}: before={v[0]!r} after={v[1]!r}" for k, v in leaked.items()]
        print("\nThe machine's own namespace changed during the tests:\n" + "\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
