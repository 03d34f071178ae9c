"""The client's address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from app.config import Network


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address to rate-limit: the peer, or the nearest untrusted hop behind proxies.

    X-Forwarded-For is a list that each proxy appends to, so only the entries added by
    proxies we trust are believable: walk it from the right, past trusted proxies, and
    take the first address that is not one of them. IPv6 clients are keyed by their
    /64, the block one household or one host usually gets.
    """
    if not peer:
        return "unknown"
    if not trusted or not forwarded_for:
        return _peer_key(peer)
    peer_address = _parse(peer)
    if peer_address is None:
        return peer
    if not _is_trusted(peer_address, trusted):
        return _key(peer_address)
    hops = [_parse(hop) for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop is None:
            break  # garbage in the list: believe nothing further left
        if not _is_trusted(hop, trusted):
            return _key(hop)
    return _key(peer_address)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def _peer_key(peer: str) -> str:
    """The rate-limit key of a direct peer."""
    # Cached: parsing an address costs more than the rate limit itself, and a server
    # sees the same few peers (its devices, a proxy) again and again.
    address = _parse(peer)
    return peer if address is None else _key(address)


def _parse(value: str) -> Address | None:
    """An address from a peer or X-Forwarded-For entry: '1.2.3.4:80', '[::1]:80', '::1'."""
    text = value.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _key(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def from_trusted_proxy(peer: str | None, trusted: Sequence[Network]) -> bool:
    """True when the direct peer is a proxy whose X-Forwarded-* headers count."""
    address = _parse(peer) if peer and trusted else None
    return address is not None and _is_trusted(address, trusted)
