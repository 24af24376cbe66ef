"""Who is the client: the socket peer, unless that peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _is_trusted(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def peer_is_trusted(conn: HTTPConnection, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether the socket peer is one of ``BASIS_TRUSTED_PROXIES`` (its forwarded headers count)."""
    networks = parse_networks(trusted_proxies)
    return bool(networks) and conn.client is not None and _is_trusted(conn.client.host, networks)


def client_ip(conn: HTTPConnection, trusted_proxies: tuple[str, ...]) -> str:
    peer = conn.client.host if conn.client else "unknown"
    networks = parse_networks(trusted_proxies)
    if not networks or not _is_trusted(peer, networks):
        return peer
    forwarded = conn.headers.get("x-forwarded-for")
    if forwarded:
        # Walk from the right: the first address that is not one of our proxies is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not _is_trusted(hop, networks):
                return hop
    real_ip = conn.headers.get("x-real-ip")
    return real_ip.strip() if real_ip else peer
