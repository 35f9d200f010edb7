"""The matrix's compose files as one file Docker Swarm deploys (`docker stack deploy`).

Swarm reads compose files but ignores or refuses parts of them; here each is handled on
purpose, and said once (`notes`), rather than found out by a user:

- `build`: ignored by Swarm. The images must exist on every node: on one node the ones
  `make images` built; on several, from a registry (`stack.swarm.image_registry` prefixes every
  image, after `docker push`).
- `depends_on` conditions: ignored by Swarm. The harness waits for `/ready` itself.
- `container_name`, `profiles` (a service only a profile starts is left out), `network_mode`
  (refused: the host-network override is for Compose).
- published ports: Swarm cannot bind an address. Each becomes host-mode publishing, which binds
  every interface of the node that runs the task; the harness sends its traffic to 127.0.0.1.
- the overlay network: `endpoint_mode: dnsrr` for every service, since the virtual-IP default
  needs the kernel's IPVS, which not every host has (a multi-node swarm with IPVS may drop it).
- GPUs: `deploy.resources.reservations.devices` is Compose's; Swarm reserves the nodes'
  generic resources instead (`NVIDIA-GPU`, which each GPU node advertises: docs/swarm.md).
"""

import copy
from pathlib import Path
from typing import Any

import yaml

from harness.stack.base import StackError
from harness.stack.interpolate import UnsetVariable, interpolate

STACK_FILE_VERSION = "3.8"
GPU_KIND = "NVIDIA-GPU"
HOST_NETWORK = "host"


def render(
    files: list[Path],
    env: dict[str, str],
    scale_service: str | None,
    replicas: int,
    image_registry: str,
    notes: list[str],
) -> dict[str, Any]:
    """The merged, interpolated stack file; what was changed for Swarm goes to `notes`."""
    merged: dict[str, Any] = {}
    for path in files:
        try:
            merged = _merge(merged, _interpolated(yaml.safe_load(path.read_text()) or {}, env))
        except UnsetVariable as unset:
            raise StackError(f"{path}: uses ${{{unset.name}}}, which is not set") from None
    services = {}
    for name, service in (merged.get("services") or {}).items():
        if "profiles" in service:
            _note(notes, f"{name}: left out (only a Compose profile starts it)")
            continue
        services[name] = _for_swarm(name, service, env, image_registry, notes)
    if scale_service is not None:
        if scale_service not in services:
            raise StackError(
                f"stack.scale_service: the compose files have no service {scale_service!r}"
            )
        services[scale_service].setdefault("deploy", {})["replicas"] = replicas
    rendered: dict[str, Any] = {"version": STACK_FILE_VERSION, "services": services}
    networks = merged.get("networks")
    if networks:
        rendered["networks"] = networks
    return rendered


def _for_swarm(
    name: str, service: dict[str, Any], env: dict[str, str], registry: str, notes: list[str]
) -> dict[str, Any]:
    service = copy.deepcopy(service)
    if "network_mode" in service:
        raise StackError(
            f"{name}: network_mode is not for Swarm (leave the host-network override out of the"
            " swarm backend's compose files)"
        )
    if service.pop("build", None) is not None:
        _note(notes, "build: ignored by Swarm; the images must exist on the nodes (make images)")
    if service.pop("depends_on", None) is not None:
        _note(notes, "depends_on: ignored by Swarm; the harness waits for /ready itself")
    if service.pop("container_name", None) is not None:
        _note(notes, f"{name}: container_name dropped (Swarm names its tasks)")
    if registry and "image" in service:
        service["image"] = f"{registry.rstrip('/')}/{service['image']}"
    service["environment"] = _environment(service.get("environment"), env)
    if "ports" in service:
        service["ports"] = [_host_mode(port, notes) for port in service["ports"]]
    deploy = service.setdefault("deploy", {})
    if "replicas" in deploy:  # an interpolated count is text; Swarm wants a number
        deploy["replicas"] = int(deploy["replicas"])
    devices = deploy.get("resources", {}).get("reservations", {}).pop("devices", None)
    if devices:
        count = sum(
            int(device.get("count", 1)) if device.get("count") != "all" else 1 for device in devices
        )
        deploy["resources"]["reservations"]["generic_resources"] = [
            {"discrete_resource_spec": {"kind": GPU_KIND, "value": count}}
        ]
        _note(notes, f"{name}: GPU reservation as Swarm's generic resource {GPU_KIND}")
    if HOST_NETWORK not in _network_names(service):
        deploy["endpoint_mode"] = "dnsrr"
    return service


def _environment(environment: Any, env: dict[str, str]) -> dict[str, str]:
    """A mapping; a name listed without a value takes the harness's value, or is left out."""
    if isinstance(environment, list):
        environment = dict(
            item.split("=", 1) if "=" in item else (item, None) for item in environment
        )
    resolved = {}
    for key, value in (environment or {}).items():
        if value is None:
            if key in env:
                resolved[key] = env[key]
        else:
            resolved[key] = str(value)
    return resolved


def _host_mode(port: Any, notes: list[str]) -> dict[str, Any]:
    """A published port in long syntax, host mode; an address it named is dropped."""
    if isinstance(port, dict):
        return {**port, "mode": "host"}
    parts = str(port).split(":")
    if len(parts) == 3:
        _note(notes, f"ports: Swarm cannot bind {parts[0]}: host-mode ports bind every interface")
        parts = parts[1:]
    published, target = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[0])
    return {"target": int(target), "published": int(published), "protocol": "tcp", "mode": "host"}


def _network_names(service: dict[str, Any]) -> list[str]:
    networks = service.get("networks") or []
    return list(networks) if isinstance(networks, dict | list) else []


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge, as far as these files need: mappings merge, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


def _interpolated(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {key: _interpolated(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolated(item, env) for item in value]
    return value


def _note(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)
