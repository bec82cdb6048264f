"""The benchmark's placing of processes on CPUs (``bench/targets.py``)."""

from __future__ import annotations

from bench.targets import cpu_sets


def test_envoy_and_the_servers_get_disjoint_cpus() -> None:
    sets = cpu_sets()
    if sets:
        assert sets["envoy"] and sets["authz"] and not sets["envoy"] & sets["authz"]
