#!/usr/bin/env python3
"""Cross-object checks of the manifests in k8s/ (and k8s/examples/), which no linter here does.

kubernetes-validate checks each object against the schemas and checkov (.checkov.yaml) the
single-object settings: most of the restricted profile, resources, probes. This checks that the
objects fit together the way the cluster will wire them up:

  - every namespaced object names a namespace that k8s/ creates; no object is defined twice;
  - workload selectors match their pod templates; Service, PDB and NetworkPolicy selectors select pods;
  - Service targetPorts, probe ports, NetworkPolicy ports and prometheus.io/port name declared ports;
  - every ConfigMap/Secret (and key) used by env, envFrom or volumes exists; every $(VAR) in
    command/args is defined; Service links cannot shadow the containers' settings;
  - runAsNonRoot and a non-zero runAsUser together, and RuntimeDefault seccomp per container (checkov
    accepts either of the first two, and misses a container's own Unconfined);
  - rollouts never drop below capacity; the grace period outlasts preStop;
  - HPA targets exist, cover the replicas and have CPU requests; PDBs allow a disruption;
    StatefulSets name a headless Service;
  - HITCOUNTER_PORT is the `http` containerPort, HITCOUNTER_HOSTNAME is reachable, the Redis URL has
    no password and names a Service port, the password comes from the environment;
  - the NetworkPolicies let each server reach its Redis and an ingress controller reach the servers;
    k8s/examples/*.yaml point at existing Service ports.

  scripts/checks/k8s_refs.py [-v] [K8S_DIR]        one line per failure (-v: per check)
  scripts/checks/k8s_refs.py --self-test [K8S_DIR]  breaks copies of the manifests in memory, one way per check,
                                                    and fails unless each break is caught (the CKV_ rows by
                                                    checkov, which must be on PATH: scripts/checks/deploy puts it there)

Both close with "N passed, M failed" and exit 1 on any failure. Needs Python 3 and PyYAML.
"""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "IngressClass",
                  "PriorityClass", "CustomResourceDefinition", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration"}
VAR_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
MIN_DRAIN_SECONDS = 10  # left after the preStop pause for in-flight requests
ALL = object()


def load(directory):
    """(source, object) for every document of every *.yaml / *.yml directly in directory."""
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml")) + glob.glob(os.path.join(directory, "*.yml"))):
        with open(path, encoding="utf-8") as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc is not None and not (isinstance(doc, dict) and "kind" in doc and "metadata" in doc):
                    raise SystemExit(f"{path}: document {i} is not a Kubernetes object")
                if doc is not None:
                    docs.append((f"{os.path.relpath(path)}#{i}", doc))
    return docs


def get(obj, path, default=None):
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
        if obj is None:
            return default
    return obj


def name_of(o):
    return get(o, "metadata.name", "")


def ns_of(o):
    return get(o, "metadata.namespace")


def ref(o):
    return f"{o.get('kind')} {ns_of(o) + '/' if ns_of(o) else ''}{name_of(o)}"


def labels_match(selector, labels):
    """A label selector ({matchLabels, matchExpressions}) against a label map."""
    if selector is None or any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, values = e.get("key"), e.get("values") or []
        if {"In": labels.get(key) not in values, "NotIn": key in labels and labels[key] in values,
                "Exists": key not in labels, "DoesNotExist": key in labels}.get(e.get("operator")):
            return False
    return True


def int_or_percent(value):
    return int(value[:-1]) if isinstance(value, str) and value.endswith("%") else int(value)


def containers(spec):
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def resolve_port(spec, port, container=None):
    """The containerPort number that a port (name or number) names, or None."""
    by_name = isinstance(port, str) and not port.isdigit()
    for c in [container] if container else containers(spec):
        for p in c.get("ports") or []:
            if port is not None and (p.get("name") == port if by_name else int(port) == p.get("containerPort")):
                return p.get("containerPort")
    return None


def config_keys(o):
    return {k for field in ("data", "stringData", "binaryData") for k in (o.get(field) or {})}


class Checks:
    def __init__(self, docs, examples):
        self.docs, self.examples, self.results = docs, examples, []
        for method in [m for m in dir(self) if m.startswith("check_")]:
            getattr(self, method)()

    def ok(self, condition, what, detail=""):
        self.results.append((bool(condition), what, detail))

    def objects(self, kind, namespace=None, examples=False):
        return [o for _, o in self.docs + (self.examples if examples else [])
                if o.get("kind") == kind and namespace in (None, ns_of(o))]

    def find(self, kind, namespace, name):
        return next((o for o in self.objects(kind, namespace) if name_of(o) == name), None)

    def pods(self, namespace=None, selector=ALL):
        """(workload, pod labels, pod spec) of each workload, or of those whose pods a label selector selects."""
        for w in [w for kind in WORKLOADS for w in self.objects(kind, namespace)]:
            labels = get(w, "spec.template.metadata.labels", {})
            if selector is ALL or labels_match(selector, labels):
                yield w, labels, get(w, "spec.template.spec", {})

    def service_pods(self, service):
        selector = get(service, "spec.selector")  # a plain map; an empty one selects nothing
        return list(self.pods(ns_of(service), {"matchLabels": selector} if selector else None))

    def env_of(self, w, c):
        """{name: value, or None when from a Secret or a field} as the container will see it."""
        env = {}
        for source in c.get("envFrom") or []:
            cm = self.find("ConfigMap", ns_of(w), get(source, "configMapRef.name")) or {}
            secret = self.find("Secret", ns_of(w), get(source, "secretRef.name")) or {}
            env.update({source.get("prefix", "") + k: v for k, v in (cm.get("data") or {}).items()})
            env.update({source.get("prefix", "") + k: None for k in config_keys(secret)})
        for item in c.get("env") or []:
            r = get(item, "valueFrom.configMapKeyRef")
            env[item["name"]] = item.get("value", get(self.find("ConfigMap", ns_of(w), r.get("name")) or {},
                                                      f"data.{r.get('key')}") if r else None)
        return env

    def service_for_host(self, namespace, host):
        """The Service a cluster DNS name means: svc, svc.ns, svc.ns.svc[.cluster.local]."""
        parts = host.split(".")
        if len(parts) > 2 and parts[2] != "svc":
            return None
        return self.find("Service", parts[1] if len(parts) > 1 else namespace, parts[0])

    def ingress_allowed(self, namespace, labels, number, name, source_labels):
        """Whether the NetworkPolicies let traffic in to a pod; source_labels None: from another namespace."""
        policies = [p for p in self.objects("NetworkPolicy", namespace) if "Ingress" in get(p, "spec.policyTypes",
                    ["Ingress"]) and labels_match(get(p, "spec.podSelector", {}), labels)]
        for rule in [r for p in policies for r in get(p, "spec.ingress", [])]:
            ports = rule.get("ports") or []
            if ports and not any("port" not in p or p["port"] in (number, name) for p in ports):
                continue
            for peer in rule.get("from") or [{}]:
                if not peer or (source_labels is None and ("namespaceSelector" in peer or "ipBlock" in peer)) or (
                        source_labels is not None and "namespaceSelector" not in peer
                        and labels_match(peer.get("podSelector"), source_labels)):
                    return True
        return not policies

    # -- names, selectors, ports

    def check_namespaces_and_names(self):
        created, seen = {name_of(o) for o in self.objects("Namespace")}, {}
        for source, o in self.docs + self.examples:
            if o.get("kind") not in CLUSTER_SCOPED:
                self.ok(ns_of(o) in created, f"namespace of {ref(o)}", f"{source}: metadata.namespace is {ns_of(o)!r};"
                        f" k8s/ creates {sorted(created)} (without one, kubectl uses the context's namespace)")
            self.ok(ref(o) not in seen, f"unique {ref(o)}", f"{source} repeats {seen.get(ref(o))}")
            seen.setdefault(ref(o), source)

    def check_selectors(self):
        for w in [w for kind in WORKLOADS for w in self.objects(kind)]:
            selector, labels = get(w, "spec.selector", {}), get(w, "spec.template.metadata.labels", {})
            some = selector.get("matchLabels") or selector.get("matchExpressions")
            self.ok(some and labels_match(selector, labels), f"selector of {ref(w)}",
                    f"spec.selector {selector} does not match the pod template labels {labels}")
        for s in self.objects("Service"):
            pods = self.service_pods(s)
            self.ok(pods, f"selector of {ref(s)}", f"selector {get(s, 'spec.selector')} selects no pods")
            for port in get(s, "spec.ports", []):
                target = port.get("targetPort", port.get("port"))
                for w, _, spec in pods:
                    self.ok(resolve_port(spec, target), f"targetPort {target!r} of {ref(s)} in {ref(w)}",
                            f"no container of {ref(w)} declares port {target!r}")
        for sts in self.objects("StatefulSet"):
            name = get(sts, "spec.serviceName")
            self.ok(get(self.find("Service", ns_of(sts), name) or {}, "spec.clusterIP") == "None",
                    f"serviceName of {ref(sts)}",
                    f"serviceName {name!r} is not a headless Service (clusterIP: None) in the manifests")

    def check_probe_ports(self):
        for w, _, spec in self.pods():
            for c in containers(spec):
                handlers = [f"{p}.{a}" for p in ("startupProbe", "livenessProbe", "readinessProbe")
                            for a in ("httpGet", "tcpSocket", "grpc")]
                handlers += [f"lifecycle.{h}.{a}" for h in ("postStart", "preStop") for a in ("httpGet", "tcpSocket")]
                for what in [h for h in handlers if get(c, h) is not None]:
                    port = get(c, what).get("port")
                    self.ok(resolve_port(spec, port, c), f"{what} port of {ref(w)} container {c.get('name')}",
                            f"port {port!r} is not a containerPort of container {c.get('name')!r}")

    # -- ConfigMaps, Secrets, environment

    def check_config_refs(self):
        for w, _, spec in self.pods():
            refs = []  # (kind, reference, key or None, where)
            for c in containers(spec):
                for source in c.get("envFrom") or []:
                    refs += [(kind, source[f], None, f"container {c.get('name')}")
                             for f, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")) if f in source]
                for e in c.get("env") or []:
                    refs += [(kind, get(e, f"valueFrom.{f}"), get(e, f"valueFrom.{f}.key"),
                              f"container {c.get('name')} env {e.get('name')}")
                             for f, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret"))
                             if get(e, f"valueFrom.{f}")]
            for v in spec.get("volumes") or []:
                refs += [(kind, s[f], None, f"volume {v.get('name')}") for s in [v] + get(v, "projected.sources", [])
                         for f, kind in (("configMap", "ConfigMap"), ("secret", "Secret")) if f in s]
            for kind, r, key, where in [x for x in refs if not x[1].get("optional")]:
                name = r.get("name", r.get("secretName"))
                obj = self.find(kind, ns_of(w), name)
                self.ok(obj, f"{kind} {name} for {ref(w)} {where}",
                        f"{kind} {ns_of(w)}/{name} not found in the manifests")
                if obj and key is not None:
                    self.ok(key in config_keys(obj), f"{kind} key {name}/{key} for {ref(w)} {where}",
                            f"{kind} {ns_of(w)}/{name} has no key {key!r}")

    def check_var_refs(self):
        # Kubernetes leaves an undefined $(VAR) in command/args as literal text.
        for w, _, spec in self.pods():
            for c in containers(spec):
                defined = self.env_of(w, c)
                for field in ("command", "args"):
                    for var in [v for arg in c.get(field) or [] for v in VAR_REF.findall(str(arg))]:
                        self.ok(var in defined, f"$({var}) in {ref(w)} container {c.get('name')} {field}",
                                f"$({var}) is not defined in the container's env, so it stays literal")

    def check_service_links(self):
        # With service links on, a Service "foo" injects FOO_PORT=tcp://..., FOO_SERVICE_HOST, ...
        for w, _, spec in self.pods():
            links = {name_of(s).upper().replace("-", "_") + "_" for s in self.objects("Service", ns_of(w))}
            for c in containers(spec) if spec.get("enableServiceLinks") is not False else []:
                own = {k.split("_", 1)[0] + "_" for k in self.env_of(w, c) if "_" in k}  # a setting's family
                clash = sorted(link for link in links if any(link.startswith(prefix) for prefix in own))
                self.ok(not clash, f"service links vs env of {ref(w)} container {c.get('name')}",
                        f"Service variables ({', '.join(p + '*' for p in clash)}) share a prefix with the container's"
                        " settings; set enableServiceLinks: false")

    # -- what checkov's restricted-profile checks let through

    def check_non_root_and_seccomp(self):
        for w, _, spec in self.pods():
            for c in containers(spec):
                sc = {**(spec.get("securityContext") or {}), **(c.get("securityContext") or {})}
                problems = [text for bad, text in ((sc.get("runAsNonRoot") is not True, "runAsNonRoot is not true"),
                                                   (sc.get("runAsUser") in (None, 0), "no non-zero runAsUser"),
                                                   (get(sc, "seccompProfile.type") != "RuntimeDefault",
                                                    "seccompProfile is not RuntimeDefault")) if bad]
                self.ok(not problems, f"non-root and seccomp of {ref(w)} container {c.get('name')}",
                        "; ".join(problems))

    # -- rollout and shutdown

    def check_rollout_and_grace(self):
        for d in self.objects("Deployment"):
            strategy = get(d, "spec.strategy", {})
            rolling = strategy.get("rollingUpdate") or {}
            self.ok(strategy.get("type", "RollingUpdate") == "RollingUpdate"
                    and int_or_percent(rolling.get("maxUnavailable", "25%")) == 0
                    and int_or_percent(rolling.get("maxSurge", "25%")) > 0, f"rolling update of {ref(d)}",
                    f"strategy {strategy} can drop below capacity: want maxUnavailable 0 and maxSurge > 0")
        for w, _, spec in self.pods():
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
            for c in spec.get("containers") or []:
                pause = int(get(c, "lifecycle.preStop.sleep.seconds", 0))
                self.ok(grace - pause >= MIN_DRAIN_SECONDS, f"grace period of {ref(w)} container {c.get('name')}",
                        f"terminationGracePeriodSeconds {grace} leaves less than {MIN_DRAIN_SECONDS} s after the"
                        f" {pause} s preStop pause")

    # -- HPA and PDB

    def check_hpas(self):
        for hpa in self.objects("HorizontalPodAutoscaler"):
            spec, target_ref = hpa["spec"], get(hpa, "spec.scaleTargetRef", {})
            target = self.find(target_ref.get("kind"), ns_of(hpa), target_ref.get("name"))
            self.ok(target, f"scaleTargetRef of {ref(hpa)}",
                    f"{target_ref.get('kind')} {ns_of(hpa)}/{target_ref.get('name')} not found")
            low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 0))
            self.ok(1 <= low <= high, f"replica range of {ref(hpa)}", f"minReplicas {low} > maxReplicas {high}")
            if target and get(target, "spec.replicas") is not None:
                replicas = int(target["spec"]["replicas"])
                self.ok(low <= replicas <= high, f"replicas of {ref(target)} within {ref(hpa)}",
                        f"replicas {replicas} is outside [{low}, {high}]")
            if target and any(get(m, "resource.name") == "cpu" for m in spec.get("metrics") or []):
                lacking = [c.get("name") for c in get(target, "spec.template.spec.containers", [])
                           if get(c, "resources.requests.cpu") is None]
                self.ok(not lacking, f"CPU requests for {ref(hpa)}",
                        f"containers {lacking} have no cpu request, so CPU utilization is undefined")

    def check_pdbs(self):
        for pdb in self.objects("PodDisruptionBudget"):
            spec = pdb["spec"]
            pods = [w for w, _, _ in self.pods(ns_of(pdb), spec.get("selector"))]
            self.ok(pods, f"selector of {ref(pdb)}", f"selector {spec.get('selector')} selects no pods")
            for w in pods:
                hpa = [h for h in self.objects("HorizontalPodAutoscaler", ns_of(w)) if get(h, "spec.scaleTargetRef", {})
                       .items() >= {"kind": w["kind"], "name": name_of(w)}.items()]
                floor = int(get(hpa[0], "spec.minReplicas", 1) if hpa else get(w, "spec.replicas", 1))
                if "minAvailable" in spec:
                    value, what = spec["minAvailable"], f"minAvailable {spec['minAvailable']} with {floor} replicas"
                    allows = int_or_percent(value) < (100 if str(value).endswith("%") else floor)
                else:
                    what = f"maxUnavailable {spec.get('maxUnavailable')}"
                    allows = int_or_percent(spec.get("maxUnavailable", 0)) > 0
                self.ok(allows, f"{ref(pdb)} allows a disruption of {ref(w)}",
                        f"{what} blocks every voluntary eviction (node drains hang)")

    # -- NetworkPolicies

    def check_network_policies(self):
        for policy in self.objects("NetworkPolicy"):
            pods = list(self.pods(ns_of(policy), get(policy, "spec.podSelector", {})))
            self.ok(pods, f"podSelector of {ref(policy)}",
                    f"podSelector {get(policy, 'spec.podSelector')} selects no pods")
            for direction, peers in (("ingress", "from"), ("egress", "to")):
                for i, rule in enumerate(get(policy, f"spec.{direction}", [])):
                    for peer in [p["podSelector"] for p in rule.get(peers) or [] if "namespaceSelector" not in p
                                 and "podSelector" in p]:
                        self.ok(list(self.pods(ns_of(policy), peer)),
                                f"{direction}[{i}] peer of {ref(policy)}", f"podSelector {peer} selects no pods")
                    for port in [p["port"] for p in rule.get("ports") or [] if "port" in p and direction == "ingress"]:
                        self.ok(any(resolve_port(s, port) for _, _, s in pods), f"ingress[{i}] port {port!r} of "
                                f"{ref(policy)}", f"no selected pod declares containerPort {port!r}")

    def check_redis_reachable(self):
        # Each server must get through the NetworkPolicies to the Redis its URL names.
        for w, labels, spec in self.pods():
            for c in spec.get("containers") or []:
                url = urlsplit(self.env_of(w, c).get("HITCOUNTER_REDIS_URL") or "")
                service = self.service_for_host(ns_of(w), url.hostname or "") if url.hostname else None
                for port in [p for p in get(service, "spec.ports", []) if p.get("port") == (url.port or 6379)]:
                    target = port.get("targetPort", port.get("port"))
                    for backend, backend_labels, backend_spec in self.service_pods(service):
                        number = resolve_port(backend_spec, target)
                        self.ok(self.ingress_allowed(ns_of(service), backend_labels, number,
                                                     target if isinstance(target, str) else None, labels),
                                f"NetworkPolicy lets {ref(w)} reach {ref(backend)}",
                                f"no NetworkPolicy allows {ref(w)} in to {ref(backend)} port {number}")

    # -- Prometheus and the server's own settings

    def check_prometheus_annotations(self):
        for w, _, spec in self.pods():
            annotations = get(w, "spec.template.metadata.annotations", {})
            if annotations.get("prometheus.io/scrape") == "true":
                port, path = annotations.get("prometheus.io/port"), annotations.get("prometheus.io/path", "/metrics")
                self.ok(port is not None and resolve_port(spec, str(port)), f"prometheus.io/port of {ref(w)}",
                        f"prometheus.io/port {port!r} is not a containerPort of the pod")
                self.ok(str(path).startswith("/"), f"prometheus.io/path of {ref(w)}",
                        f"prometheus.io/path {path!r} does not start with /")

    def check_app_settings(self):
        for w, _, spec in self.pods():
            for c in spec.get("containers") or []:
                env, where = self.env_of(w, c), f"{ref(w)} container {c.get('name')}"
                if "HITCOUNTER_PORT" in env:
                    http = resolve_port(spec, "http", c)
                    self.ok(http and str(env["HITCOUNTER_PORT"]) == str(http), f"HITCOUNTER_PORT of {where}",
                            f"HITCOUNTER_PORT {env['HITCOUNTER_PORT']!r} is not the containerPort named http ({http})")
                if "HITCOUNTER_HOSTNAME" in env:
                    self.ok(env["HITCOUNTER_HOSTNAME"] in ("0.0.0.0", "::"), f"HITCOUNTER_HOSTNAME of {where}",
                            f"HITCOUNTER_HOSTNAME {env['HITCOUNTER_HOSTNAME']!r} is unreachable from outside the pod")
                if env.get("HITCOUNTER_REDIS_URL"):
                    url = urlsplit(env["HITCOUNTER_REDIS_URL"])
                    self.ok(url.password is None and url.username is None, f"no password in the Redis URL of {where}",
                            "HITCOUNTER_REDIS_URL carries credentials; use HITCOUNTER_REDIS_PASSWORD from a Secret")
                    service = self.service_for_host(ns_of(w), url.hostname or "")
                    ports = [p.get("port") for p in get(service, "spec.ports", [])]
                    self.ok(url.scheme == "redis" and (url.port or 6379) in ports, f"Redis URL service of {where}",
                            f"HITCOUNTER_REDIS_URL {url.geturl()!r} names no Service port in the manifests")
                if env.get("HITCOUNTER_STORE") == "redis":
                    self.ok("HITCOUNTER_REDIS_PASSWORD" in env, f"Redis password of {where}",
                            "HITCOUNTER_STORE is redis but HITCOUNTER_REDIS_PASSWORD is not set")

    # -- examples

    def check_ingresses(self):
        for ingress in self.objects("Ingress", examples=True):
            backends = [get(ingress, "spec.defaultBackend")] + [
                get(p, "backend", {}) for rule in get(ingress, "spec.rules", []) for p in get(rule, "http.paths", [])]
            for backend in [b for i, b in enumerate(backends) if b is not None and b not in backends[:i]]:
                name, want = get(backend, "service.name"), get(backend, "service.port", {})
                service = self.find("Service", ns_of(ingress), name)
                port = next((p for p in get(service, "spec.ports", []) if ("name" in want and p.get("name") ==
                             want["name"]) or ("number" in want and p.get("port") == want["number"])), None)
                self.ok(port, f"backend {name}:{want} of {ref(ingress)}",
                        f"Service {ns_of(ingress)}/{name} with port {want} not found")
                target = (port or {}).get("targetPort", (port or {}).get("port"))
                for w, labels, spec in self.service_pods(service) if port else []:
                    number = resolve_port(spec, target)
                    self.ok(self.ingress_allowed(ns_of(service), labels, number,
                                                 target if isinstance(target, str) else None, None),
                            f"NetworkPolicy lets the ingress controller reach {ref(w)}",
                            f"no NetworkPolicy admits traffic from outside the namespace to port {number}")


# ---------------------------------------------------------------- self-test

DELETE = object()
# (what is broken, text expected in a failure, "Kind/name", {path: new value}). A path's keys are separated
# by dots ([brackets] hold a key with dots in it); a list is indexed by number or by an element's name; the
# path "" is the object itself. Rows expecting CKV_... are checked by checkov with .checkov.yaml.
DEP, STS, HPA, PDB, CM, NP = ("Deployment/hitcounter", "StatefulSet/redis", "HorizontalPodAutoscaler/hitcounter",
                              "PodDisruptionBudget/hitcounter", "ConfigMap/hitcounter", "NetworkPolicy/")
POD = "spec.template.spec."
SERVER, REDIS = POD + "containers.server.", POD + "containers.redis."
MUTATIONS = [
    ("Service selector matches no pods", "selects no pods", "Service/hitcounter",
     {"spec.selector[app.kubernetes.io/component]": "web"}),
    ("Deployment selector not in its template labels", "does not match the pod template labels",
     DEP, {"spec.selector.matchLabels.tier": "front"}),
    ("two Services named redis", "repeats", "Service/redis-headless", {"metadata.name": "redis"}),
    ("object without a namespace", "metadata.namespace is None", "Service/hitcounter", {"metadata.namespace": DELETE}),
    ("StatefulSet governing Service missing", "is not a headless Service", "Service/redis-headless", {"": DELETE}),
    ("ConfigMap removed", "ConfigMap hitcounter/hitcounter not found", CM, {"": DELETE}),
    ("Secret removed", "Secret hitcounter/hitcounter-redis not found", "Secret/hitcounter-redis", {"": DELETE}),
    ("Secret key renamed", "has no key 'password'", "Secret/hitcounter-redis", {"stringData": {"pass": "x"}}),
    ("container port renamed", "declares port 'http'", DEP, {SERVER + "ports.0.name": "web"}),
    ("readiness probe on an undeclared port", "not a containerPort of container", DEP,
     {SERVER + "readinessProbe.httpGet.port": "admin"}),
    ("Redis liveness probe on an undeclared port", "not a containerPort of container", STS,
     {REDIS + "livenessProbe.tcpSocket.port": 6380}),
    ("$(REDIS_PASSWORD) no longer defined", "stays literal", STS, {REDIS + "env.REDIS_PASSWORD.name": "PASS"}),
    ("service links left on", "enableServiceLinks: false", DEP, {POD + "enableServiceLinks": DELETE}),
    ("runAsNonRoot dropped from Redis", "runAsNonRoot is not true", STS,
     {POD + "securityContext.runAsNonRoot": DELETE, REDIS + "securityContext.runAsNonRoot": DELETE}),
    ("server runs as uid 0", "no non-zero runAsUser", DEP, {POD + "securityContext.runAsUser": 0}),
    ("server container Unconfined", "seccompProfile is not RuntimeDefault", DEP,
     {SERVER + "securityContext.seccompProfile.type": "Unconfined"}),
    ("rolling update may drop below capacity", "can drop below capacity", DEP,
     {"spec.strategy.rollingUpdate.maxUnavailable": 1}),
    ("grace period shorter than preStop plus drain", "terminationGracePeriodSeconds", DEP,
     {POD + "terminationGracePeriodSeconds": 10}),
    ("HPA targets a missing Deployment", "Deployment hitcounter/web not found", HPA,
     {"spec.scaleTargetRef.name": "web"}),
    ("HPA range excludes the Deployment's replicas", "outside", HPA, {"spec.minReplicas": 4}),
    ("HPA minReplicas above maxReplicas", "> maxReplicas", HPA, {"spec.maxReplicas": 2}),
    ("HPA on CPU without a CPU request", "no cpu request", DEP, {SERVER + "resources.requests.cpu": DELETE}),
    ("PDB selector matches nothing", "selects no pods", PDB,
     {"spec.selector.matchLabels[app.kubernetes.io/name]": "web"}),
    ("PDB blocks every eviction", "blocks every voluntary eviction", PDB,
     {"spec.maxUnavailable": DELETE, "spec.minAvailable": 3}),
    ("NetworkPolicy podSelector matches nothing", "podSelector", NP + "redis-from-hitcounter",
     {"spec.podSelector.matchLabels[app.kubernetes.io/name]": "redis-cache"}),
    ("NetworkPolicy peer matches nothing", "peer of", NP + "redis-from-hitcounter",
     {"spec.ingress.0.from.0.podSelector.matchLabels[app.kubernetes.io/name]": "web"}),
    ("NetworkPolicy admits the wrong clients to Redis", "no NetworkPolicy allows", NP + "redis-from-hitcounter",
     {"spec.ingress.0.from.0.podSelector.matchLabels[app.kubernetes.io/name]": "redis"}),
    ("NetworkPolicy opens a port nobody listens on", "declares containerPort", NP + "hitcounter-http",
     {"spec.ingress.0.ports.0.port": 9090}),
    ("NetworkPolicy no longer admits the ingress controller", "from outside the namespace", NP + "hitcounter-http",
     {"spec.ingress.0.from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "hitcounter"}}}]}),
    ("Prometheus port annotation wrong", "prometheus.io/port", DEP,
     {"spec.template.metadata.annotations[prometheus.io/port]": "9100"}),
    ("Prometheus path annotation relative", "does not start with /", DEP,
     {"spec.template.metadata.annotations[prometheus.io/path]": "metrics"}),
    ("password put in the Redis URL", "carries credentials", CM,
     {"data.HITCOUNTER_REDIS_URL": "redis://:secret@redis.hitcounter.svc.cluster.local:6379/0"}),
    ("Redis URL names a missing Service", "names no Service port", CM,
     {"data.HITCOUNTER_REDIS_URL": "redis://valkey.hitcounter.svc.cluster.local:6379/0"}),
    ("HITCOUNTER_PORT differs from the containerPort", "is not the containerPort named http", DEP,
     {SERVER + "env.HITCOUNTER_PORT.value": "9090"}),
    ("server bound to loopback", "unreachable from outside", DEP,
     {SERVER + "env.HITCOUNTER_HOSTNAME.value": "127.0.0.1"}),
    ("Redis password env removed from the servers", "HITCOUNTER_REDIS_PASSWORD is not set", DEP,
     {SERVER + "env.HITCOUNTER_REDIS_PASSWORD": DELETE}),
    ("example Ingress names a missing Service port", "not found", "Ingress/hitcounter",
     {"spec.rules.0.http.paths.0.backend.service.port.name": "web"}),
    # Checked by checkov: the rest of the restricted profile, resources, probes.
    ("privilege escalation allowed", "CKV_K8S_20", DEP, {SERVER + "securityContext.allowPrivilegeEscalation": True}),
    ("root filesystem writable", "CKV_K8S_22", STS, {REDIS + "securityContext.readOnlyRootFilesystem": False}),
    ("capabilities not dropped", "CKV_K8S_37", DEP, {SERVER + "securityContext.capabilities": DELETE}),
    ("a capability added", "CKV_K8S_25", DEP, {SERVER + "securityContext.capabilities.add": ["NET_BIND_SERVICE"]}),
    ("privileged container", "CKV_K8S_16", STS, {REDIS + "securityContext.privileged": True}),
    ("service account token mounted", "CKV_K8S_38", DEP, {POD + "automountServiceAccountToken": DELETE}),
    ("seccomp profile removed", "CKV_K8S_31", STS,
     {POD + "securityContext.seccompProfile": DELETE, REDIS + "securityContext.seccompProfile": DELETE}),
    ("host network", "CKV_K8S_19", DEP, {POD + "hostNetwork": True}),
    ("memory limit removed", "CKV_K8S_13", DEP, {SERVER + "resources.limits.memory": DELETE}),
    ("CPU limit removed", "CKV_K8S_11", STS, {REDIS + "resources.limits.cpu": DELETE}),
    ("memory request removed", "CKV_K8S_12", STS, {REDIS + "resources.requests.memory": DELETE}),
    ("CPU request removed", "CKV_K8S_10", STS, {REDIS + "resources.requests.cpu": DELETE}),
    ("readiness probe removed", "CKV_K8S_9", DEP, {SERVER + "readinessProbe": DELETE}),
    ("liveness probe removed", "CKV_K8S_8", STS, {REDIS + "livenessProbe": DELETE}),
]


def mutate(lists, target, changes):
    kind, name = target.split("/")
    found, index = next((lst, i) for lst in lists for i, (_, o) in enumerate(lst)
                        if o["kind"] == kind and name_of(o) == name)
    for path, value in changes.items():
        if path == "":
            del found[index]  # the object itself (its only change)
            continue
        *keys, last = [a or b for a, b in re.findall(r"\[([^\]]+)\]|([^.\[\]]+)", path)]
        obj = found[index][1]
        for k in keys:
            obj = obj[position(obj, k)]
        if value is DELETE:
            del obj[position(obj, last)]
        else:
            obj[position(obj, last)] = value


def position(obj, key):
    """A list's element by number or name, or a mapping's key."""
    if isinstance(obj, list):
        return int(key) if key.isdigit() else next(i for i, x in enumerate(obj) if x.get("name") == key)
    return key


def self_test(docs, examples):
    results, by_checkov = [], []
    baseline = [r for r in Checks(docs, examples).results if not r[0]]
    results.append((not baseline, "baseline: the unmodified manifests pass",
                    "; ".join(f"{w}: {d}" for _, w, d in baseline)))
    workdir = tempfile.mkdtemp(prefix="k8s-refs-self-test-")
    for number, (what, expected, target, changes) in enumerate(MUTATIONS):
        broken_docs, broken_examples = copy.deepcopy(docs), copy.deepcopy(examples)
        try:
            mutate([broken_docs, broken_examples], target, changes)
        except (KeyError, IndexError, StopIteration, TypeError) as error:
            results.append((False, what, f"could not apply the mutation ({error!r}); update the self-test"))
            continue
        if expected.startswith("CKV_"):
            with open(os.path.join(workdir, f"{number}.yaml"), "w") as f:
                yaml.safe_dump_all([o for _, o in broken_docs + broken_examples], f)
            by_checkov.append((number, what, expected))
            continue
        failures = [f"{w}: {d}" for ok, w, d in Checks(broken_docs, broken_examples).results if not ok]
        hits = [f for f in failures if expected in f]
        results.append((bool(hits), what, f"caught ({hits[0]})" if hits else
                        f"not caught (wanted {expected!r}; got {'; '.join(failures) or 'no failure at all'})"))
    if by_checkov:
        try:
            run = subprocess.run(["checkov", "--config-file", os.path.join(ROOT, ".checkov.yaml"), "-d", workdir,
                                  "-o", "json"], capture_output=True, text=True, timeout=300,
                                 env=dict(os.environ, CKV_SKIP_PACKAGE_UPDATE_CHECK="true"))
            report = json.loads(run.stdout)
            failed = {(os.path.basename(r["file_path"]), r["check_id"]) for part in (
                report if isinstance(report, list) else [report]) for r in get(part, "results.failed_checks", [])}
        except (OSError, ValueError, subprocess.TimeoutExpired) as error:
            failed = set()
            results.append((False, "checkov runs on the broken copies", repr(error)))
        for number, what, expected in by_checkov:
            caught = (f"{number}.yaml", expected) in failed
            results.append((caught, what, f"{'caught' if caught else 'not caught'} by checkov {expected}"))
    shutil.rmtree(workdir)
    return results


# ---------------------------------------------------------------- main

def main():
    args, options = [a for a in sys.argv[1:] if not a.startswith("-")], [a for a in sys.argv[1:] if a.startswith("-")]
    if options and not set(options) <= {"-v", "--verbose", "--self-test"}:
        print(__doc__)
        return 0 if set(options) & {"-h", "--help"} else 2
    directory = args[0] if args else os.path.join(ROOT, "k8s")
    docs, examples = load(directory), load(os.path.join(directory, "examples"))
    if not docs:
        print(f"no manifests in {directory}")
        return 2
    self_testing = "--self-test" in options
    results = self_test(docs, examples) if self_testing else Checks(docs, examples).results
    for ok, what, detail in results:
        if not ok or self_testing or {"-v", "--verbose"} & set(options):
            print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail and (not ok or self_testing) else ''}")
    failed = sum(1 for ok, _, _ in results if not ok)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
