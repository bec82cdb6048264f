"""Reading deploy/kubernetes/ and deploy/istio/ as plain data: the objects a kustomization lists,
the ConfigMaps its generators make (as kustomize would, without the hash suffix), and look-ups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
ISTIO = ROOT / "deploy" / "istio"

Obj = dict[str, Any]


def documents(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def kustomization(folder: Path = KUBERNETES) -> Obj:
    data: Obj = yaml.safe_load((folder / "kustomization.yaml").read_text())
    return data


def listed_objects(folder: Path = KUBERNETES) -> list[Obj]:
    """Every object of the files the kustomization lists under ``resources``."""
    return [d for name in kustomization(folder)["resources"] for d in documents(folder / name)]


def generated_configmaps(folder: Path = KUBERNETES) -> list[Obj]:
    """The ConfigMaps of ``configMapGenerator``: one key per file, named after the file."""
    maps = []
    for gen in kustomization(folder).get("configMapGenerator", []):
        data = {Path(f).name: (folder / f).read_text() for f in gen["files"]}
        meta = {"name": gen["name"], "namespace": kustomization(folder)["namespace"]}
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return maps


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def container(workload: Obj, name: str) -> Obj:
    found = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, f"{len(found)} containers named {name}"
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A non-empty equality selector that ``labels`` satisfy."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_number(c: Obj, port: int | str) -> int:
    """A container port given by number or by name."""
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == port]
    assert len(named) == 1, f"no container port named {port}"
    return int(named[0])
