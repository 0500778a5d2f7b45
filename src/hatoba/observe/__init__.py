"""Observation, pure: packets to tcpdump lines, pcap and pcapng, trace timelines and verdicts.

Nothing here opens a socket: the service's packet sockets, nftables trace listener, conntrack
and tracefs readers (`hatoba.kernel`) produce the facts, and these modules turn them into what
people read. The CLI renders capture streams with `lines` and `pcapng` alone (standard library
only, loaded by the capture command only).
"""
