"""Thin adapters to the kernel: namespaces, netlink, nftables, mounts, sysctls. No policy here."""
