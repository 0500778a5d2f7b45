"""`iptables-restore --noflush` in the host namespace: the one way hatoba changes iptables
(`ip6tables-restore` for ip6tables).

The binary, not libnftables, writes there: iptables-nft owns table `ip filter` and expects its
own encoding of rules (and on a host still on iptables-legacy the same binary name speaks
x_tables). One restore is one transaction, so FORWARD's jump and our chain change together.
"""

from __future__ import annotations

import shutil
import subprocess

from hatoba.errors import KernelError
from hatoba.kernel.fw_netns import HomeNetns

_TIMEOUT = 30.0  # the xtables lock is waited for (-w) as long as this


class IptablesRestore:
    def __init__(self, home: HomeNetns, binary: str = "iptables-restore") -> None:
        self._home = home
        self._binary = binary

    def missing(self) -> str | None:
        """Why the binary cannot be used, or None."""
        if shutil.which(self._binary) is None:
            return f"{self._binary} is not installed"
        return None

    def run(self, script: str) -> None:
        """Apply `script` (iptables-restore input) atomically, or raise KernelError."""

        def work() -> subprocess.CompletedProcess[str]:
            # forked from a thread in the host namespace, so the child is in it too
            return subprocess.run(
                [self._binary, "--noflush", "-w", str(int(_TIMEOUT))],
                input=script,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT + 5,
                check=False,
            )

        try:
            done = self._home.call(work)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KernelError(f"{self._binary}: {exc}") from exc
        if done.returncode != 0:
            raise KernelError(f"{self._binary}: {done.stderr.strip() or done.returncode}")
