"""What the Kubernetes schemas cannot see: that the manifests fit together.

    python3 deploy/check_manifest_references.py FILE.yaml…

Fails (exit 1, one line per problem) when a workload's selector does not match its own pod labels,
a Service or PodDisruptionBudget selects no workload, a pod refers to a ConfigMap, Secret or key
that none of the files defines, a probe or Service names a port no container declares, or an
object is outside the paz-machine namespace.
"""
import sys

import yaml

NAMESPACE = "paz-machine"


def load(paths):
    objects = []
    for path in paths:
        with open(path) as file:
            objects += [(path, obj) for obj in yaml.safe_load_all(file) if obj]
    return objects


def matches(selector, labels):
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def pod_refs(spec):
    """(kind, name, key or None) of every ConfigMap and Secret a pod spec uses."""
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"], None
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"], None
        for source in volume.get("projected", {}).get("sources", []):
            for kind in ("configMap", "secret"):
                if kind in source:
                    yield kind[0].upper() + kind[1:], source[kind]["name"], None
    for container in spec.get("initContainers", []) + spec["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"], None
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"], None
        for variable in container.get("env", []):
            for ref, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if ref in variable.get("valueFrom", {}):
                    yield kind, variable["valueFrom"][ref]["name"], variable["valueFrom"][ref]["key"]


def probe_ports(container):
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        action = container.get(probe, {})
        for kind in ("httpGet", "tcpSocket"):
            if kind in action:
                yield probe, action[kind]["port"]


def main(paths):
    objects = load(paths)
    problems = []
    defined = {}
    for _, obj in objects:
        data = {**obj.get("data", {}), **obj.get("stringData", {})}
        defined[(obj["kind"], obj["metadata"]["name"])] = set(data)
    workloads = [(path, obj) for path, obj in objects if obj["kind"] in ("Deployment", "StatefulSet")]
    pod_labels = [obj["spec"]["template"]["metadata"]["labels"] for _, obj in workloads]

    for path, obj in objects:
        where = f"{path}: {obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{where}: not in namespace {NAMESPACE}")
        if obj["kind"] == "Service" and not any(matches(obj["spec"].get("selector"), l) for l in pod_labels):
            problems.append(f"{where}: selects no workload's pods")
        if obj["kind"] == "PodDisruptionBudget":
            selector = obj["spec"]["selector"]["matchLabels"]
            if not any(matches(selector, labels) for labels in pod_labels):
                problems.append(f"{where}: selects no workload's pods")

    service_ports = {p.get("targetPort", p["port"]) for _, o in objects if o["kind"] == "Service" for p in o["spec"]["ports"]}
    declared_ports = set()
    for path, obj in workloads:
        where = f"{path}: {obj['kind']} {obj['metadata']['name']}"
        spec = obj["spec"]["template"]["spec"]
        if not matches(obj["spec"]["selector"]["matchLabels"], obj["spec"]["template"]["metadata"]["labels"]):
            problems.append(f"{where}: selector does not match its pod labels")
        for kind, name, key in pod_refs(spec):
            if (kind, name) not in defined:
                problems.append(f"{where}: {kind} {name} is defined nowhere")
            elif key is not None and key not in defined[(kind, name)]:
                problems.append(f"{where}: {kind} {name} has no key {key}")
        for container in spec["containers"]:
            ports = {p.get("name") for p in container.get("ports", [])} | {p["containerPort"] for p in container.get("ports", [])}
            declared_ports |= ports
            for probe, port in probe_ports(container):
                if port not in ports:
                    problems.append(f"{where}: {probe} of {container['name']} uses undeclared port {port}")
    for port in service_ports - declared_ports:
        problems.append(f"a Service targets port {port}, which no container declares")

    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
