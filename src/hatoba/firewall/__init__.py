"""hatoba's firewall, pure: a state of networks, endpoints and published ports → nftables JSON.

`render` builds the tables from nothing, `delta` moves them from one state to the next with
set/map element changes, `rebuild` and `teardown` replace or delete them. The adapter that
sends these documents to the kernel is `hatoba.kernel.firewall.NftFirewall`.
"""

from hatoba.firewall.model import FirewallState, FwEndpoint, FwNetwork, FwPort
from hatoba.firewall.plan import delta, rebuild, render, teardown
from hatoba.firewall.validate import already_allocated, internal_publish_error, validate

__all__ = [
    "FirewallState",
    "FwEndpoint",
    "FwNetwork",
    "FwPort",
    "already_allocated",
    "delta",
    "internal_publish_error",
    "rebuild",
    "render",
    "teardown",
    "validate",
]
