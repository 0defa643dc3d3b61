"""Province-level IP location (ID-6) from an offline table: no lookups leave the machine."""

from __future__ import annotations

import csv
import functools
import ipaddress
from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> tuple[tuple[IPNetwork, str], ...]:
    rows: list[tuple[IPNetwork, str]] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line in csv.reader(fh):
            if len(line) >= 2 and not line[0].startswith("#"):
                rows.append((ipaddress.ip_network(line[0].strip(), strict=False),
                             line[1].strip()))
    # Most specific network first.
    return tuple(sorted(rows, key=lambda r: -r[0].prefixlen))


def locate(ip: str | None, table: Path | None) -> str | None:
    """The province (or country) of an address, '内网' for private ones, None if unknown."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if table is not None and table.exists():
        for net, place in _load(table):
            if addr.version == net.version and addr in net:
                return place
    if addr.is_private or addr.is_loopback:
        return "内网"
    return None
