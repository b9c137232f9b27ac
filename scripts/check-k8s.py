#!/usr/bin/env python3
"""Cross-reference checks for the plain manifests in k8s/.

Schema validation (kubernetes-validate) checks each object alone; this checks
that the objects fit together, the way the cluster will wire them up:

  - every namespaced object names a namespace that k8s/ creates;
  - workload selectors are a subset of their pod template labels;
  - Service, PodDisruptionBudget and NetworkPolicy selectors select pods;
  - Service targetPorts, probe ports, NetworkPolicy ports and the Prometheus
    annotation name ports that the selected containers declare;
  - every ConfigMap / Secret (and key) used by env, envFrom or volumes exists;
  - every $(VAR) in a container's command/args is defined in its env;
  - HPA targets exist and have CPU requests; PDBs allow a disruption;
  - StatefulSets name an existing headless Service;
  - the restricted pod security settings, resources and probes are present;
  - rollouts never drop below capacity; the grace period outlasts preStop;
  - HITCOUNTER_PORT equals the `http` containerPort, and HITCOUNTER_REDIS_URL
    holds no password and names an existing Service port;
  - Service links cannot shadow the containers' own settings;
  - the NetworkPolicies let each server reach the Redis it is configured for,
    and let an Ingress backend be reached from outside the namespace;
  - k8s/examples/*.yaml (not applied with k8s/) point at existing Services.

Usage:
  scripts/check-k8s.py [--verbose] [K8S_DIR]   check; exit 1 on any failure
  scripts/check-k8s.py --self-test [K8S_DIR]   break copies of the manifests in
                                               memory; exit 1 unless every break
                                               is caught

Needs only Python 3 and PyYAML. Prints one line per failure and a closing
line "N passed, M failed".
"""

import argparse
import copy
import glob
import os
import re
import sys
from urllib.parse import urlsplit

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
CLUSTER_SCOPED_KINDS = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
    "IngressClass", "PriorityClass", "CustomResourceDefinition", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}
VAR_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
# Time left after the preStop pause for in-flight requests to finish.
MIN_DRAIN_SECONDS = 10


# ---------------------------------------------------------------- loading

def load_dir(directory):
    """Every non-empty document of every *.yaml / *.yml file directly in directory."""
    docs = []
    paths = sorted(glob.glob(os.path.join(directory, "*.yaml")) + glob.glob(os.path.join(directory, "*.yml")))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for index, doc in enumerate(yaml.safe_load_all(f)):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
                    raise SystemExit(f"{path}: document {index} is not a Kubernetes object")
                docs.append({"source": f"{os.path.relpath(path)}#{index}", "obj": doc})
    return docs


# ---------------------------------------------------------------- helpers

def kind_of(obj):
    return obj.get("kind", "")


def name_of(obj):
    return (obj.get("metadata") or {}).get("name", "")


def ns_of(obj):
    return (obj.get("metadata") or {}).get("namespace")


def ref(obj):
    namespace = ns_of(obj)
    prefix = f"{namespace}/" if namespace else ""
    return f"{kind_of(obj)} {prefix}{name_of(obj)}"


def labels_match(selector, labels):
    """A label selector ({matchLabels, matchExpressions}) against a label map."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def map_matches(selector_map, labels):
    """A Service-style plain selector map; an empty map selects nothing."""
    return bool(selector_map) and all(labels.get(k) == v for k, v in selector_map.items())


def int_or_percent(value):
    """(number, is_percent) for an IntOrString like 1 or "25%"."""
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1]), True
    return int(value), False


class Model:
    """Indexes the objects of one set of manifests."""

    def __init__(self, docs, examples):
        self.docs = docs
        self.examples = examples

    def objects(self, kind=None, namespace=None, include_examples=False):
        for doc in self.docs + (self.examples if include_examples else []):
            obj = doc["obj"]
            if kind is not None and kind_of(obj) != kind:
                continue
            if namespace is not None and ns_of(obj) != namespace:
                continue
            yield obj

    def find(self, kind, namespace, name):
        for obj in self.objects(kind, namespace):
            if name_of(obj) == name:
                return obj
        return None

    def workloads(self, namespace=None):
        for kind in WORKLOAD_KINDS:
            yield from self.objects(kind, namespace)

    def pods(self, namespace):
        """(workload, template labels, pod spec) for each workload in namespace."""
        for workload in self.workloads(namespace):
            template = (workload.get("spec") or {}).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            yield workload, labels, template.get("spec") or {}

    def replicas_floor(self, workload):
        """The fewest replicas the workload should run: HPA minReplicas if one targets it."""
        for hpa in self.objects("HorizontalPodAutoscaler", ns_of(workload)):
            target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("kind") == kind_of(workload) and target.get("name") == name_of(workload):
                return int(hpa["spec"].get("minReplicas", 1))
        return int((workload.get("spec") or {}).get("replicas", 1))


def containers(pod_spec):
    return list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or [])


def container_ports(container):
    return [p for p in container.get("ports") or []]


def resolve_port(pod_spec, port, container=None):
    """The containerPort number that a port (name or number) refers to, or None."""
    if port is None:
        return None
    pool = [container] if container is not None else containers(pod_spec)
    for c in pool:
        for p in container_ports(c):
            if isinstance(port, str) and not port.isdigit():
                if p.get("name") == port:
                    return p.get("containerPort")
            elif int(port) == p.get("containerPort"):
                return p.get("containerPort")
    return None


def probe_handlers(container):
    """(what, handler) for each probe and lifecycle hook that names a port."""
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = container.get(probe) or {}
        for action in ("httpGet", "tcpSocket", "grpc"):
            if action in spec:
                yield f"{probe}.{action}", spec[action]
    for hook in ("postStart", "preStop"):
        spec = (container.get("lifecycle") or {}).get(hook) or {}
        for action in ("httpGet", "tcpSocket"):
            if action in spec:
                yield f"lifecycle.{hook}.{action}", spec[action]


# ---------------------------------------------------------------- checks

class Checker:
    def __init__(self, model):
        self.model = model
        self.results = []  # (ok, check, detail)

    def check(self, ok, check, detail=""):
        self.results.append((bool(ok), check, detail))

    def failures(self):
        return [(check, detail) for ok, check, detail in self.results if not ok]

    def run(self):
        for method in (
            self.check_namespaces,
            self.check_unique_names,
            self.check_workload_selectors,
            self.check_services,
            self.check_statefulset_services,
            self.check_probe_ports,
            self.check_config_refs,
            self.check_var_refs,
            self.check_service_links,
            self.check_pod_security,
            self.check_resources_and_probes,
            self.check_rollout,
            self.check_grace_period,
            self.check_hpas,
            self.check_pdbs,
            self.check_network_policies,
            self.check_prometheus_annotations,
            self.check_app_settings,
            self.check_redis_reachable,
            self.check_ingresses,
        ):
            method()
        return self

    # -- namespaces and names

    def check_namespaces(self):
        created = {name_of(o) for o in self.model.objects("Namespace")}
        for doc in self.model.docs + self.model.examples:
            obj = doc["obj"]
            if kind_of(obj) in CLUSTER_SCOPED_KINDS:
                continue
            namespace = ns_of(obj)
            self.check(
                namespace in created,
                f"namespace of {ref(obj)}",
                f"{doc['source']}: metadata.namespace is {namespace!r}; k8s/ creates {sorted(created)}"
                " (without one, kubectl applies it to the current context's namespace)",
            )

    def check_unique_names(self):
        seen = {}
        for doc in self.model.docs + self.model.examples:
            key = ref(doc["obj"])
            if key in seen:
                self.check(False, f"unique {key}", f"{doc['source']} repeats {seen[key]}")
            seen[key] = doc["source"]
        self.check(True, "unique object names")

    # -- selectors and Services

    def check_workload_selectors(self):
        for workload in self.model.workloads():
            spec = workload.get("spec") or {}
            selector = spec.get("selector") or {}
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            self.check(
                bool(selector.get("matchLabels") or selector.get("matchExpressions"))
                and labels_match(selector, labels),
                f"selector of {ref(workload)}",
                f"spec.selector {selector} does not match the pod template labels {labels}",
            )

    def selected_pods(self, namespace, selector_map):
        return [(w, l, s) for w, l, s in self.model.pods(namespace) if map_matches(selector_map, l)]

    def check_services(self):
        for service in self.model.objects("Service"):
            spec = service.get("spec") or {}
            selector = spec.get("selector") or {}
            pods = self.selected_pods(ns_of(service), selector)
            self.check(
                pods,
                f"selector of {ref(service)}",
                f"selector {selector} selects no pods of any Deployment/StatefulSet/DaemonSet",
            )
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                for workload, _, pod_spec in pods:
                    self.check(
                        resolve_port(pod_spec, target) is not None,
                        f"targetPort {target!r} of {ref(service)} in {ref(workload)}",
                        f"no container of {ref(workload)} declares port {target!r}",
                    )

    def check_statefulset_services(self):
        for sts in self.model.objects("StatefulSet"):
            name = (sts.get("spec") or {}).get("serviceName")
            service = self.model.find("Service", ns_of(sts), name) if name else None
            self.check(
                service is not None and (service.get("spec") or {}).get("clusterIP") == "None",
                f"serviceName of {ref(sts)}",
                f"serviceName {name!r} is not a headless Service (clusterIP: None) in the manifests",
            )

    def check_probe_ports(self):
        for workload, _, pod_spec in self.model.pods(None):
            for c in containers(pod_spec):
                for what, handler in probe_handlers(c):
                    port = handler.get("port")
                    self.check(
                        resolve_port(pod_spec, port, c) is not None,
                        f"{what} port of {ref(workload)} container {c.get('name')}",
                        f"port {port!r} is not a containerPort of container {c.get('name')!r}",
                    )

    # -- ConfigMaps, Secrets and environment

    def config_object(self, kind, namespace, name):
        return self.model.find(kind, namespace, name)

    @staticmethod
    def config_keys(obj):
        return set((obj.get("data") or {}).keys()) | set((obj.get("stringData") or {}).keys()) | set(
            (obj.get("binaryData") or {}).keys())

    def check_ref(self, workload, kind, name, key, optional, where):
        namespace = ns_of(workload)
        obj = self.config_object(kind, namespace, name)
        if optional:
            return
        self.check(obj is not None, f"{kind} {name} for {ref(workload)} {where}",
                   f"{kind} {namespace}/{name} not found in the manifests")
        if obj is not None and key is not None:
            self.check(key in self.config_keys(obj), f"{kind} key {name}/{key} for {ref(workload)} {where}",
                       f"{kind} {namespace}/{name} has no key {key!r}")

    def check_config_refs(self):
        for workload, _, pod_spec in self.model.pods(None):
            for c in containers(pod_spec):
                where = f"container {c.get('name')}"
                for source in c.get("envFrom") or []:
                    for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                        if field in source:
                            r = source[field]
                            self.check_ref(workload, kind, r.get("name"), None, r.get("optional", False), where)
                for env in c.get("env") or []:
                    value_from = env.get("valueFrom") or {}
                    for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                        if field in value_from:
                            r = value_from[field]
                            self.check_ref(workload, kind, r.get("name"), r.get("key"), r.get("optional", False),
                                           f"{where} env {env.get('name')}")
            for volume in pod_spec.get("volumes") or []:
                where = f"volume {volume.get('name')}"
                if "configMap" in volume:
                    v = volume["configMap"]
                    self.check_ref(workload, "ConfigMap", v.get("name"), None, v.get("optional", False), where)
                if "secret" in volume:
                    v = volume["secret"]
                    self.check_ref(workload, "Secret", v.get("secretName"), None, v.get("optional", False), where)
                for source in (volume.get("projected") or {}).get("sources") or []:
                    for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                        if field in source:
                            v = source[field]
                            self.check_ref(workload, kind, v.get("name"), None, v.get("optional", False), where)

    def env_of(self, workload, container):
        """{name: value or None} as the container will see it (None: from a Secret or field)."""
        env = {}
        namespace = ns_of(workload)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                obj = self.config_object("ConfigMap", namespace, source["configMapRef"].get("name"))
                for k, v in ((obj or {}).get("data") or {}).items():
                    env[prefix + k] = v
            if "secretRef" in source:
                obj = self.config_object("Secret", namespace, source["secretRef"].get("name"))
                for k in self.config_keys(obj or {}):
                    env[prefix + k] = None
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                value_from = item.get("valueFrom") or {}
                value = None
                if "configMapKeyRef" in value_from:
                    r = value_from["configMapKeyRef"]
                    obj = self.config_object("ConfigMap", namespace, r.get("name"))
                    value = ((obj or {}).get("data") or {}).get(r.get("key"))
                env[item["name"]] = value
        return env

    def check_var_refs(self):
        # Kubernetes leaves an undefined $(VAR) in command/args as literal text.
        for workload, _, pod_spec in self.model.pods(None):
            for c in containers(pod_spec):
                defined = set(self.env_of(workload, c))
                for field in ("command", "args"):
                    for arg in c.get(field) or []:
                        for var in VAR_REF.findall(str(arg)):
                            self.check(var in defined, f"$({var}) in {ref(workload)} container {c.get('name')} {field}",
                                       f"$({var}) is not defined in the container's env, so it stays literal")

    def check_service_links(self):
        # With service links on, a Service "foo" injects FOO_PORT=tcp://..., FOO_SERVICE_HOST, ...
        for workload, _, pod_spec in self.model.pods(None):
            if pod_spec.get("enableServiceLinks") is False:
                self.check(True, f"service links off for {ref(workload)}")
                continue
            links = {name_of(s).upper().replace("-", "_") + "_" for s in self.model.objects("Service", ns_of(workload))}
            for c in containers(pod_spec):
                # A setting's first word is its family (HITCOUNTER_*): the program may read any of it.
                own = {k.split("_", 1)[0] + "_" for k in self.env_of(workload, c) if "_" in k}
                clash = sorted(link for link in links if any(link.startswith(prefix) for prefix in own))
                self.check(not clash, f"service links vs env of {ref(workload)} container {c.get('name')}",
                           f"Service env variables ({', '.join(p + '*' for p in clash)}) share a prefix with the"
                           " container's settings; set enableServiceLinks: false")

    # -- pod hardening, resources, probes

    def check_pod_security(self):
        for workload, _, pod_spec in self.model.pods(None):
            problems = []
            pod_sc = pod_spec.get("securityContext") or {}
            if pod_spec.get("automountServiceAccountToken") is not False:
                problems.append("automountServiceAccountToken is not false")
            if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append("pod seccompProfile is not RuntimeDefault")
            for c in containers(pod_spec):
                sc = c.get("securityContext") or {}
                name = c.get("name")
                if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
                    problems.append(f"{name}: runAsNonRoot is not true")
                if sc.get("runAsUser", pod_sc.get("runAsUser")) in (None, 0):
                    problems.append(f"{name}: no non-zero runAsUser")
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{name}: allowPrivilegeEscalation is not false")
                if sc.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{name}: readOnlyRootFilesystem is not true")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problems.append(f"{name}: capabilities do not drop ALL")
                if (sc.get("capabilities") or {}).get("add"):
                    problems.append(f"{name}: adds capabilities")
                if sc.get("privileged"):
                    problems.append(f"{name}: privileged")
                seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
                if seccomp != "RuntimeDefault":
                    problems.append(f"{name}: seccompProfile is not RuntimeDefault")
            self.check(not problems, f"restricted security context of {ref(workload)}", "; ".join(problems))

    def check_resources_and_probes(self):
        for workload, _, pod_spec in self.model.pods(None):
            for c in pod_spec.get("containers") or []:
                resources = c.get("resources") or {}
                missing = [f"{part}.{res}" for part in ("requests", "limits") for res in ("cpu", "memory")
                           if res not in (resources.get(part) or {})]
                self.check(not missing, f"resources of {ref(workload)} container {c.get('name')}",
                           f"missing {', '.join(missing)}")
                absent = [p for p in ("readinessProbe", "livenessProbe") if p not in c]
                self.check(not absent, f"probes of {ref(workload)} container {c.get('name')}",
                           f"missing {', '.join(absent)}")

    # -- rollout and shutdown

    def check_rollout(self):
        for deployment in self.model.objects("Deployment"):
            strategy = (deployment.get("spec") or {}).get("strategy") or {}
            rolling = strategy.get("rollingUpdate") or {}
            ok = strategy.get("type", "RollingUpdate") == "RollingUpdate"
            if ok:
                max_unavailable, _ = int_or_percent(rolling.get("maxUnavailable", "25%"))
                max_surge, _ = int_or_percent(rolling.get("maxSurge", "25%"))
                ok = max_unavailable == 0 and max_surge > 0
            self.check(ok, f"rolling update of {ref(deployment)}",
                       f"strategy {strategy} can drop below capacity: want RollingUpdate with maxUnavailable 0"
                       " and maxSurge > 0")

    def check_grace_period(self):
        for workload, _, pod_spec in self.model.pods(None):
            grace = int(pod_spec.get("terminationGracePeriodSeconds", 30))
            for c in pod_spec.get("containers") or []:
                sleep = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
                self.check(grace - int(sleep) >= MIN_DRAIN_SECONDS,
                           f"grace period of {ref(workload)} container {c.get('name')}",
                           f"terminationGracePeriodSeconds {grace} leaves less than {MIN_DRAIN_SECONDS} s after"
                           f" the {sleep} s preStop pause")

    # -- HPA and PDB

    def check_hpas(self):
        for hpa in self.model.objects("HorizontalPodAutoscaler"):
            spec = hpa.get("spec") or {}
            target_ref = spec.get("scaleTargetRef") or {}
            target = self.model.find(target_ref.get("kind"), ns_of(hpa), target_ref.get("name"))
            self.check(target is not None, f"scaleTargetRef of {ref(hpa)}",
                       f"{target_ref.get('kind')} {ns_of(hpa)}/{target_ref.get('name')} not found")
            low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 0))
            self.check(1 <= low <= high, f"replica range of {ref(hpa)}", f"minReplicas {low} > maxReplicas {high}")
            if target is None:
                continue
            replicas = (target.get("spec") or {}).get("replicas")
            if replicas is not None:
                self.check(low <= int(replicas) <= high, f"replicas of {ref(target)} within {ref(hpa)}",
                           f"replicas {replicas} is outside [{low}, {high}]")
            uses_cpu = any((m.get("resource") or {}).get("name") == "cpu" for m in spec.get("metrics") or [])
            if uses_cpu:
                pod_spec = ((target.get("spec") or {}).get("template") or {}).get("spec") or {}
                lacking = [c.get("name") for c in pod_spec.get("containers") or []
                           if "cpu" not in ((c.get("resources") or {}).get("requests") or {})]
                self.check(not lacking, f"CPU requests for {ref(hpa)}",
                           f"containers {lacking} have no cpu request, so CPU utilization is undefined")

    def check_pdbs(self):
        for pdb in self.model.objects("PodDisruptionBudget"):
            spec = pdb.get("spec") or {}
            selector = spec.get("selector")
            pods = [w for w, labels, _ in self.model.pods(ns_of(pdb)) if labels_match(selector, labels)]
            self.check(pods, f"selector of {ref(pdb)}", f"selector {selector} selects no pods")
            for workload in pods:
                floor = self.model.replicas_floor(workload)
                if "minAvailable" in spec:
                    value, percent = int_or_percent(spec["minAvailable"])
                    ok = value < 100 if percent else value < floor
                    what = f"minAvailable {spec['minAvailable']} with {floor} replicas"
                else:
                    value, _ = int_or_percent(spec.get("maxUnavailable", 0))
                    ok = value > 0
                    what = f"maxUnavailable {spec.get('maxUnavailable')}"
                self.check(ok, f"{ref(pdb)} allows a disruption of {ref(workload)}",
                           f"{what} blocks every voluntary eviction (node drains hang)")

    # -- NetworkPolicy

    def policy_pods(self, policy):
        selector = (policy.get("spec") or {}).get("podSelector")
        return [(w, l, s) for w, l, s in self.model.pods(ns_of(policy)) if labels_match(selector or {}, l)]

    def check_network_policies(self):
        for policy in self.model.objects("NetworkPolicy"):
            spec = policy.get("spec") or {}
            pods = self.policy_pods(policy)
            self.check(pods, f"podSelector of {ref(policy)}", f"podSelector {spec.get('podSelector')} selects no pods")
            for direction in ("ingress", "egress"):
                peers_key = "from" if direction == "ingress" else "to"
                for i, rule in enumerate(spec.get(direction) or []):
                    for peer in rule.get(peers_key) or []:
                        if "podSelector" in peer and "namespaceSelector" not in peer:
                            selector = peer["podSelector"]
                            matched = [w for w, l, _ in self.model.pods(ns_of(policy)) if labels_match(selector, l)]
                            self.check(matched, f"{direction}[{i}] peer of {ref(policy)}",
                                       f"podSelector {selector} selects no pods")
                    if direction != "ingress":
                        continue
                    for port in rule.get("ports") or []:
                        if "port" not in port:
                            continue
                        found = any(resolve_port(s, port["port"]) is not None for _, _, s in pods)
                        self.check(found, f"ingress[{i}] port {port['port']!r} of {ref(policy)}",
                                   f"no selected pod declares containerPort {port['port']!r}")

    def ingress_allowed(self, namespace, target_labels, port_number, port_name, source_labels):
        """Whether policies let traffic in to a pod; source_labels None means from another namespace."""
        policies = [p for p in self.model.objects("NetworkPolicy", namespace)
                    if labels_match((p.get("spec") or {}).get("podSelector") or {}, target_labels)
                    and "Ingress" in ((p.get("spec") or {}).get("policyTypes") or ["Ingress"])]
        if not policies:
            return True
        for policy in policies:
            for rule in (policy.get("spec") or {}).get("ingress") or []:
                ports = rule.get("ports") or []
                if ports and not any(p.get("port") in (port_number, port_name) or "port" not in p for p in ports):
                    continue
                peers = rule.get("from") or []
                if not peers:
                    return True
                for peer in peers:
                    if source_labels is None:
                        if "namespaceSelector" in peer or "ipBlock" in peer:
                            return True
                    elif "podSelector" in peer and "namespaceSelector" not in peer:
                        if labels_match(peer["podSelector"], source_labels):
                            return True
        return False

    # -- Prometheus and the server's own settings

    def check_prometheus_annotations(self):
        for workload in self.model.workloads():
            template = (workload.get("spec") or {}).get("template") or {}
            annotations = (template.get("metadata") or {}).get("annotations") or {}
            if annotations.get("prometheus.io/scrape") != "true":
                continue
            port = annotations.get("prometheus.io/port")
            pod_spec = template.get("spec") or {}
            self.check(port is not None and resolve_port(pod_spec, str(port)) is not None,
                       f"prometheus.io/port of {ref(workload)}",
                       f"prometheus.io/port {port!r} is not a containerPort of the pod")
            path = annotations.get("prometheus.io/path", "/metrics")
            self.check(str(path).startswith("/"), f"prometheus.io/path of {ref(workload)}",
                       f"prometheus.io/path {path!r} does not start with /")

    def service_for_host(self, namespace, host):
        """The Service a cluster DNS name refers to: svc, svc.ns, svc.ns.svc[.cluster.local]."""
        parts = host.split(".")
        name = parts[0]
        svc_ns = parts[1] if len(parts) > 1 else namespace
        if len(parts) > 2 and parts[2] != "svc":
            return None
        return self.model.find("Service", svc_ns, name)

    def check_app_settings(self):
        for workload, _, pod_spec in self.model.pods(None):
            for c in pod_spec.get("containers") or []:
                env = self.env_of(workload, c)
                where = f"{ref(workload)} container {c.get('name')}"
                if "HITCOUNTER_PORT" in env:
                    http = resolve_port(pod_spec, "http", c)
                    self.check(http is not None and str(env["HITCOUNTER_PORT"]) == str(http),
                               f"HITCOUNTER_PORT of {where}",
                               f"HITCOUNTER_PORT {env['HITCOUNTER_PORT']!r} is not the containerPort named http"
                               f" ({http})")
                if "HITCOUNTER_HOSTNAME" in env:
                    self.check(env["HITCOUNTER_HOSTNAME"] in ("0.0.0.0", "::"), f"HITCOUNTER_HOSTNAME of {where}",
                               f"HITCOUNTER_HOSTNAME {env['HITCOUNTER_HOSTNAME']!r} is unreachable from outside"
                               " the pod")
                if env.get("HITCOUNTER_REDIS_URL"):
                    url = urlsplit(env["HITCOUNTER_REDIS_URL"])
                    self.check(url.password is None and url.username is None,
                               f"no password in the Redis URL of {where}",
                               "HITCOUNTER_REDIS_URL carries credentials; use HITCOUNTER_REDIS_PASSWORD from a Secret")
                    service = self.service_for_host(ns_of(workload), url.hostname or "")
                    ports = [p.get("port") for p in ((service or {}).get("spec") or {}).get("ports") or []]
                    self.check(url.scheme == "redis" and service is not None and (url.port or 6379) in ports,
                               f"Redis URL service of {where}",
                               f"HITCOUNTER_REDIS_URL {env['HITCOUNTER_REDIS_URL']!r} names no Service port in the"
                               " manifests")
                if env.get("HITCOUNTER_STORE") == "redis":
                    has_password = "HITCOUNTER_REDIS_PASSWORD" in env
                    self.check(has_password, f"Redis password of {where}",
                               "HITCOUNTER_STORE is redis but HITCOUNTER_REDIS_PASSWORD is not set")

    def check_redis_reachable(self):
        # The servers must get through the NetworkPolicies to the Redis their URL names.
        for workload, labels, pod_spec in self.model.pods(None):
            for c in pod_spec.get("containers") or []:
                raw = self.env_of(workload, c).get("HITCOUNTER_REDIS_URL")
                if not raw:
                    continue
                url = urlsplit(raw)
                service = self.service_for_host(ns_of(workload), url.hostname or "")
                if service is None:
                    continue  # reported by check_app_settings
                spec = service.get("spec") or {}
                for port in spec.get("ports") or []:
                    if port.get("port") != (url.port or 6379):
                        continue
                    target = port.get("targetPort", port.get("port"))
                    for backend, backend_labels, backend_spec in self.selected_pods(ns_of(service),
                                                                                    spec.get("selector") or {}):
                        number = resolve_port(backend_spec, target)
                        name = target if isinstance(target, str) else None
                        self.check(self.ingress_allowed(ns_of(service), backend_labels, number, name, labels),
                                   f"NetworkPolicy lets {ref(workload)} reach {ref(backend)}",
                                   f"no NetworkPolicy allows {ref(workload)} in to {ref(backend)} port {number}")

    # -- examples

    def check_ingresses(self):
        for ingress in self.model.objects("Ingress", include_examples=True):
            spec = ingress.get("spec") or {}
            backends = []
            if spec.get("defaultBackend"):
                backends.append(spec["defaultBackend"])
            for rule in spec.get("rules") or []:
                for path in (rule.get("http") or {}).get("paths") or []:
                    backends.append(path.get("backend") or {})
            unique = []
            for backend in backends:
                if backend not in unique:
                    unique.append(backend)
            for backend in unique:
                svc = backend.get("service") or {}
                service = self.model.find("Service", ns_of(ingress), svc.get("name"))
                want = svc.get("port") or {}
                ports = ((service or {}).get("spec") or {}).get("ports") or []
                port = next((p for p in ports if p.get("name") == want.get("name") or
                             ("number" in want and p.get("port") == want["number"])), None)
                self.check(service is not None and port is not None,
                           f"backend {svc.get('name')}:{want} of {ref(ingress)}",
                           f"Service {ns_of(ingress)}/{svc.get('name')} with port {want} not found")
                if port is None:
                    continue
                target = port.get("targetPort", port.get("port"))
                for backend_w, labels, pod_spec in self.selected_pods(ns_of(service),
                                                                      (service.get("spec") or {}).get("selector")):
                    number = resolve_port(pod_spec, target)
                    name = target if isinstance(target, str) else None
                    self.check(self.ingress_allowed(ns_of(service), labels, number, name, None),
                               f"NetworkPolicy lets the ingress controller reach {ref(backend_w)}",
                               f"no NetworkPolicy admits traffic from outside the namespace to port {number}")


def run_checks(docs, examples):
    return Checker(Model(docs, examples)).run()


# ---------------------------------------------------------------- self-test

def _obj(docs, kind, name):
    for doc in docs:
        if kind_of(doc["obj"]) == kind and name_of(doc["obj"]) == name:
            return doc["obj"]
    raise KeyError(f"self-test needs {kind} {name} in the manifests")


def _container(docs, kind, name, index=0):
    return _obj(docs, kind, name)["spec"]["template"]["spec"]["containers"][index]


def _remove(docs, kind, name):
    docs[:] = [d for d in docs if not (kind_of(d["obj"]) == kind and name_of(d["obj"]) == name)]


def _env(container, name):
    return next(e for e in container["env"] if e["name"] == name)


def _set(mapping, key, value):
    mapping[key] = value


def _replace(mapping, old_key, new_key, value):
    del mapping[old_key]
    mapping[new_key] = value


# (what is broken, substring expected in a failure, mutation(docs, examples))
MUTATIONS = [
    ("Service selector no longer matches the pods", "selects no pods",
     lambda d, e: _set(_obj(d, "Service", "hitcounter")["spec"]["selector"], "app.kubernetes.io/component", "web")),
    ("Deployment selector not a subset of its template labels", "does not match the pod template labels",
     lambda d, e: _set(_obj(d, "Deployment", "hitcounter")["spec"]["selector"]["matchLabels"], "tier", "front")),
    ("ConfigMap removed", "ConfigMap hitcounter/hitcounter not found",
     lambda d, e: _remove(d, "ConfigMap", "hitcounter")),
    ("Secret removed", "Secret hitcounter/hitcounter-redis not found",
     lambda d, e: _remove(d, "Secret", "hitcounter-redis")),
    ("Secret key renamed", "has no key 'password'",
     lambda d, e: _set(_obj(d, "Secret", "hitcounter-redis"), "stringData", {"pass": "x"})),
    ("container port renamed", "declares port 'http'",
     lambda d, e: _set(_container(d, "Deployment", "hitcounter")["ports"][0], "name", "web")),
    ("readiness probe on an undeclared port", "not a containerPort of container",
     lambda d, e: _set(_container(d, "Deployment", "hitcounter")["readinessProbe"]["httpGet"], "port", "admin")),
    ("Redis liveness probe on an undeclared port", "not a containerPort of container",
     lambda d, e: _set(_container(d, "StatefulSet", "redis")["livenessProbe"]["tcpSocket"], "port", 6380)),
    ("HPA targets a missing Deployment", "not found",
     lambda d, e: _set(_obj(d, "HorizontalPodAutoscaler", "hitcounter")["spec"]["scaleTargetRef"], "name", "web")),
    ("PDB selector matches nothing", "selects no pods",
     lambda d, e: _set(_obj(d, "PodDisruptionBudget", "hitcounter")["spec"]["selector"]["matchLabels"],
                       "app.kubernetes.io/name", "web")),
    ("PDB blocks every eviction", "blocks every voluntary eviction",
     lambda d, e: _replace(_obj(d, "PodDisruptionBudget", "hitcounter")["spec"], "maxUnavailable", "minAvailable", 3)),
    ("NetworkPolicy podSelector matches nothing", "podSelector",
     lambda d, e: _set(_obj(d, "NetworkPolicy", "redis-from-hitcounter")["spec"]["podSelector"]["matchLabels"],
                       "app.kubernetes.io/name", "redis-cache")),
    ("NetworkPolicy admits the wrong clients to Redis", "no NetworkPolicy allows",
     lambda d, e: _set(_obj(d, "NetworkPolicy", "redis-from-hitcounter")["spec"]["ingress"][0]["from"][0]
                       ["podSelector"]["matchLabels"], "app.kubernetes.io/name", "redis")),
    ("NetworkPolicy opens a port nobody listens on", "declares containerPort",
     lambda d, e: _set(_obj(d, "NetworkPolicy", "hitcounter-http")["spec"]["ingress"][0]["ports"][0], "port", 9090)),
    ("rolling update may drop below capacity", "can drop below capacity",
     lambda d, e: _set(_obj(d, "Deployment", "hitcounter")["spec"]["strategy"]["rollingUpdate"], "maxUnavailable", 1)),
    ("grace period shorter than preStop plus drain", "terminationGracePeriodSeconds",
     lambda d, e: _set(_obj(d, "Deployment", "hitcounter")["spec"]["template"]["spec"],
                       "terminationGracePeriodSeconds", 10)),
    ("privilege escalation allowed", "allowPrivilegeEscalation",
     lambda d, e: _set(_container(d, "Deployment", "hitcounter")["securityContext"], "allowPrivilegeEscalation", True)),
    ("runAsNonRoot dropped from Redis", "runAsNonRoot",
     lambda d, e: [_obj(d, "StatefulSet", "redis")["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
                   _container(d, "StatefulSet", "redis")["securityContext"].pop("runAsNonRoot")]),
    ("service account token mounted", "automountServiceAccountToken",
     lambda d, e: _obj(d, "Deployment", "hitcounter")["spec"]["template"]["spec"].pop("automountServiceAccountToken")),
    ("memory limit removed", "limits.memory",
     lambda d, e: _container(d, "Deployment", "hitcounter")["resources"]["limits"].pop("memory")),
    ("readiness probe removed", "missing readinessProbe",
     lambda d, e: _container(d, "Deployment", "hitcounter").pop("readinessProbe")),
    ("$(REDIS_PASSWORD) no longer defined", "stays literal",
     lambda d, e: _set(_env(_container(d, "StatefulSet", "redis"), "REDIS_PASSWORD"), "name", "REDIS_PASS")),
    ("password put in the Redis URL", "carries credentials",
     lambda d, e: _set(_obj(d, "ConfigMap", "hitcounter")["data"], "HITCOUNTER_REDIS_URL",
                       "redis://:secret@redis.hitcounter.svc.cluster.local:6379/0")),
    ("Redis URL names a missing Service", "names no Service port",
     lambda d, e: _set(_obj(d, "ConfigMap", "hitcounter")["data"], "HITCOUNTER_REDIS_URL",
                       "redis://valkey.hitcounter.svc.cluster.local:6379/0")),
    ("HITCOUNTER_PORT differs from the containerPort", "is not the containerPort named http",
     lambda d, e: _set(_env(_container(d, "Deployment", "hitcounter"), "HITCOUNTER_PORT"), "value", "9090")),
    ("server bound to loopback", "unreachable from outside",
     lambda d, e: _set(_env(_container(d, "Deployment", "hitcounter"), "HITCOUNTER_HOSTNAME"), "value", "127.0.0.1")),
    ("Redis password env removed from the servers", "HITCOUNTER_REDIS_PASSWORD is not set",
     lambda d, e: _set(_container(d, "Deployment", "hitcounter"), "env",
                       [x for x in _container(d, "Deployment", "hitcounter")["env"]
                        if x["name"] != "HITCOUNTER_REDIS_PASSWORD"])),
    ("service links left on", "enableServiceLinks: false",
     lambda d, e: _obj(d, "Deployment", "hitcounter")["spec"]["template"]["spec"].pop("enableServiceLinks")),
    ("Prometheus port annotation wrong", "prometheus.io/port",
     lambda d, e: _set(_obj(d, "Deployment", "hitcounter")["spec"]["template"]["metadata"]["annotations"],
                       "prometheus.io/port", "9100")),
    ("StatefulSet governing Service missing", "is not a headless Service",
     lambda d, e: _remove(d, "Service", "redis-headless")),
    ("object without a namespace", "metadata.namespace is None",
     lambda d, e: _obj(d, "Service", "hitcounter")["metadata"].pop("namespace")),
    ("HPA range excludes the Deployment's replicas", "outside",
     lambda d, e: _set(_obj(d, "HorizontalPodAutoscaler", "hitcounter")["spec"], "minReplicas", 4)),
    ("example Ingress names a missing Service port", "not found",
     lambda d, e: _set(_obj(e, "Ingress", "hitcounter")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
                       ["service"]["port"], "name", "web")),
    ("NetworkPolicy no longer admits the ingress controller", "from outside the namespace",
     lambda d, e: _set(_obj(d, "NetworkPolicy", "hitcounter-http")["spec"]["ingress"][0], "from",
                       [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "hitcounter"}}}])),
]


def self_test(docs, examples):
    passed, failed = 0, 0
    baseline = run_checks(docs, examples).failures()
    if baseline:
        print(f"FAIL baseline: the unmodified manifests already fail {len(baseline)} check(s)")
        for check, detail in baseline:
            print(f"  {check}: {detail}")
        failed += 1
    else:
        print("ok   baseline: the unmodified manifests pass")
        passed += 1
    for what, expected, mutate in MUTATIONS:
        broken_docs, broken_examples = copy.deepcopy(docs), copy.deepcopy(examples)
        try:
            mutate(broken_docs, broken_examples)
        except (KeyError, IndexError, StopIteration, TypeError) as error:
            print(f"FAIL {what}: could not apply the mutation ({error!r}); update the self-test")
            failed += 1
            continue
        failures = run_checks(broken_docs, broken_examples).failures()
        hits = [f"{check}: {detail}" for check, detail in failures if expected in f"{check}: {detail}"]
        if hits:
            print(f"ok   {what}: caught ({hits[0]})")
            passed += 1
        else:
            seen = "; ".join(f"{c}: {d}" for c, d in failures) or "no failure at all"
            print(f"FAIL {what}: not caught (wanted {expected!r}; got {seen})")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


# ---------------------------------------------------------------- main

def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("k8s_dir", nargs="?", default=os.path.join(repo, "k8s"))
    parser.add_argument("--self-test", action="store_true", help="show that each kind of break is caught")
    parser.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
    args = parser.parse_args()

    docs = load_dir(args.k8s_dir)
    examples = load_dir(os.path.join(args.k8s_dir, "examples"))
    if not docs:
        print(f"no manifests in {args.k8s_dir}")
        return 2
    if args.self_test:
        return self_test(docs, examples)

    results = run_checks(docs, examples).results
    for ok, check, detail in results:
        if not ok:
            print(f"FAIL {check}: {detail}")
        elif args.verbose:
            print(f"ok   {check}")
    passed = sum(1 for ok, _, _ in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
