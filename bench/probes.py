"""Side measurements taken around the measured run: CPU per process, agent-authz's decision count."""

from __future__ import annotations

import os
import re
import resource

from bench.targets import get

_TICK = os.sysconf("SC_CLK_TCK")
_DECISION = re.compile(r'^authz_decisions_total\{[^}]*decision="(allow|deny)"[^}]*\}\s+([\d.e+]+)$', re.M)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def system_cpu() -> float:
    """CPU seconds every process on the machine has used so far (busy time in /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK


def children_cpu() -> float:
    """CPU seconds of this process's finished, waited-for children (here: the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decisions(metrics_port: int) -> dict[str, int]:
    """agent-authz's authz_decisions_total, summed per decision, from its /metrics."""
    status, _, text = get(metrics_port, "/metrics")
    if status != 200:
        raise OSError(f"/metrics answered {status}")
    totals = {"allow": 0, "deny": 0}
    for decision, value in _DECISION.findall(text):
        totals[decision] += int(float(value))
    return totals
