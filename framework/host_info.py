"""Sacred's ``sacred.host_info`` module, under the name scripts import it by.

``from gnomon.host_info import host_info_getter, host_info_gatherers, get_host_info``
works as ``from sacred.host_info import ...`` did; everything lives in :mod:`gnomon.host`.
"""

from __future__ import annotations

from gnomon.host import (
    HostInfoGatherer,
    IgnoreHostInfo,
    get_host_info,
    host_info_gatherer,
    host_info_gatherers,
    host_info_getter,
)

# Sacred's name for the gatherer class.
HostInfoGetter = HostInfoGatherer

__all__ = [
    "HostInfoGatherer",
    "HostInfoGetter",
    "IgnoreHostInfo",
    "get_host_info",
    "host_info_gatherer",
    "host_info_gatherers",
    "host_info_getter",
]
