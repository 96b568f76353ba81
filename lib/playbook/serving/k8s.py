"""Day 5: Kubernetes manifests generated from a profile, and their offline validation.

Two flavours: a KServe ``serving.kserve.io/v1beta1`` InferenceService (custom container
predictor), and a plain Deployment + Service for clusters without KServe. Both carry the
engine's real arguments (the same builders the local launcher uses), a pinned image, GPU
requests that equal tensor x pipeline x data parallel, probes sized for model load,
``/dev/shm``, a model-cache volume, the HF token from a Secret, and the node selector and
toleration that keep one instance per exclusive GPU node (pitfall 4).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Profile
from playbook.serving.engines import LaunchTarget, get_engine
from playbook.serving.engines.base import KEY_VARIABLE

Flavor = Literal["kserve", "deployment"]
PORT = 8000
MODEL_DIR = "/models"
CACHE_DIR = "/cache"
GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
# GPU feature discovery labels: NVIDIA's gpu-feature-discovery and AMD's node labeller.
GPU_PRODUCT_LABEL = {"nvidia": "nvidia.com/gpu.product", "amd": "amd.com/gpu.product-name"}
KSERVE_FIELDS = json.loads((Path(__file__).parent / "k8s_schemas" / "kserve-v1beta1-fields.json").read_text())
# The predictor's fields that come from Kubernetes' PodSpec (validated as one); the rest are KServe's own.
POD_SPEC_FIELDS = {"containers", "volumes", "nodeSelector", "tolerations", "affinity", "securityContext",
                   "serviceAccountName", "imagePullSecrets", "initContainers", "priorityClassName",
                   "runtimeClassName", "schedulerName", "hostIPC", "dnsPolicy"}  # fmt: skip


class ManifestError(PlaybookError):
    """A manifest cannot be rendered from this profile, or does not validate."""


class EngineReleaseWarning(UserWarning):
    """The container image runs another engine release than the one the playbook's flags were checked against."""


DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def resource_name(profile: Profile, engine: str) -> str:
    """A DNS-1123 name from the profile and engine (what ``kubectl get`` shows); refused if none can be made."""
    raw = f"{profile.name}-{engine}".lower().replace(".", "-").replace("_", "-")
    name = raw[:63].strip("-")
    if not DNS_LABEL.fullmatch(name):
        raise ManifestError(f"profile name {profile.name!r} makes no Kubernetes name ({name!r}): use lowercase "
                            "letters, digits and '-' in the profile's name")  # fmt: skip
    return name


def gpu_count(profile: Profile, engine: str) -> int:
    spec = profile.engines[engine]
    return spec.tensor_parallel_size * spec.pipeline_parallel_size * spec.data_parallel_size


def model_reference(profile: Profile) -> str:
    """Hub models are fetched by the engine (HF token from the Secret); others come from the cache volume."""
    if profile.model.source == "hub":
        return profile.model.hub_id
    return f"{MODEL_DIR}/{profile.model.served_name}"


def engine_command(profile: Profile, engine: str) -> tuple[list[str], list[str]]:
    """``command`` and ``args`` for the container: the launcher's argv, listening on all interfaces."""
    target = LaunchTarget(model_reference(profile), profile.model.served_name, "0.0.0.0", PORT)
    keyed = bool(profile.server.api_key_env)
    argv = get_engine(engine).argv(profile.engines[engine], target, profile.model.source == "dummy", keyed)
    if argv[0] in ("-m", "-c"):  # a module, or the key shim: run with the image's interpreter
        return ["python3", argv[0], argv[1]], argv[2:]
    return [argv[0]], argv[1:]


def container_env(profile: Profile, engine: str) -> list[dict[str, Any]]:
    """Secrets by reference only: a manifest never holds a token or key."""
    settings = profile.days.day5
    env: list[dict[str, Any]] = [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": settings.hf_token_secret, "key": "token",
                                                             "optional": True}}},
        {"name": "HF_HOME", "value": f"{CACHE_DIR}/huggingface"},
    ]  # fmt: skip
    adapter, spec = get_engine(engine), profile.engines[engine]
    if profile.server.api_key_env:  # the engine's own variable, or the variable its key shim reads
        secret = {"secretKeyRef": {"name": f"{engine}-api-key", "key": "key"}}
        env.append({"name": adapter.api_key_variable or KEY_VARIABLE, "valueFrom": secret})
    env += [{"name": k, "value": v} for k, v in sorted(adapter.knob_env(spec, profile.hardware).items())]
    env += [{"name": k, "value": v} for k, v in sorted(spec.env.items()) if k != "CUDA_VISIBLE_DEVICES"]
    return env


def probes(profile: Profile) -> dict[str, Any]:
    """Startup covers model load and graph capture (the profile's startup budget); then
    readiness gates traffic and liveness restarts a hung engine."""
    health = {"httpGet": {"path": "/health", "port": PORT}}
    startup_checks = math.ceil(profile.server.startup_timeout_s / 10)
    return {
        "startupProbe": {**health, "periodSeconds": 10, "failureThreshold": startup_checks},
        "readinessProbe": {**health, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**health, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
    }  # fmt: skip


def resources(profile: Profile, engine: str) -> dict[str, Any]:
    settings = profile.days.day5
    requests: dict[str, str] = {"cpu": settings.cpu, "memory": settings.memory}
    limits: dict[str, str] = {"memory": settings.memory}
    if profile.hardware.accelerator in GPU_RESOURCE:
        gpus = str(gpu_count(profile, engine))
        requests[GPU_RESOURCE[profile.hardware.accelerator]] = gpus
        limits[GPU_RESOURCE[profile.hardware.accelerator]] = gpus
    return {"requests": requests, "limits": limits}


def container(profile: Profile, engine: str, name: str) -> dict[str, Any]:
    spec = profile.engines[engine]
    if not spec.image:
        raise ManifestError(f"engines.{engine}.image is not set: give a pinned image tag to render manifests")
    command, args = engine_command(profile, engine)
    return {
        "name": name, "image": spec.image, "command": command, "args": args,
        "ports": [{"containerPort": PORT, "name": "http", "protocol": "TCP"}],
        "env": container_env(profile, engine), "resources": resources(profile, engine), **probes(profile),
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "model-cache", "mountPath": CACHE_DIR},
                         {"name": "model-cache", "mountPath": MODEL_DIR, "subPath": "models"}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }  # fmt: skip


def pod_placement(profile: Profile, claim: str) -> dict[str, Any]:
    """Volumes, and (pitfall 4) the node selector and toleration for exclusive GPU nodes."""
    settings = profile.days.day5
    placement: dict[str, Any] = {
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size}},
            {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim}},
        ]
    }
    accelerator = profile.hardware.accelerator
    if accelerator in GPU_RESOURCE and settings.exclusive_gpu_nodes:
        product = profile.hardware.device_name.replace(" ", "-")
        placement["nodeSelector"] = {GPU_PRODUCT_LABEL[accelerator]: product}
        placement["tolerations"] = [{"key": GPU_RESOURCE[accelerator], "operator": "Exists", "effect": "NoSchedule"}]
    return placement


def model_cache_claim(profile: Profile, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": profile.days.day5.namespace},
        "spec": {"accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": profile.days.day5.model_cache_size}}},
    }  # fmt: skip


def labels(profile: Profile, engine: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "llm-server",
            "app.kubernetes.io/part-of": "llm-inference-playbook", "playbook/engine": engine}  # fmt: skip


@dataclass(frozen=True)
class ReplicaPlan:
    """Replicas from measurements (the selection's verdict) instead of the profile's ``days.day5.max_replicas``,
    and the in-flight requests a replica served within the SLOs. KServe's RawDeployment HPA scales on cpu or memory
    only (KServe's raw-deployment autoscaling docs), so with a target the InferenceService says
    ``serving.kserve.io/autoscalerClass: external`` and an HPA of its own scales the predictor on the engine's
    running-requests series (:func:`autoscaler`)."""

    min_replicas: int
    max_replicas: int
    target_concurrency: int | None = None


def running_requests_metric(engine: str) -> str:
    """The engine's running-requests series as a Prometheus adapter usually exposes it to the custom metrics API
    (``vllm:num_requests_running`` -> ``vllm_num_requests_running``): the cluster needs such an adapter rule."""
    series = next(name for name, column in get_engine(engine).metrics.items() if column == "running")
    return series.replace(":", "_")


def autoscaler(profile: Profile, engine: str, plan: ReplicaPlan) -> dict[str, Any]:
    """An ``autoscaling/v2`` HPA on the Deployment KServe creates for a RawDeployment predictor (``<name>-predictor``),
    aiming at ``plan.target_concurrency`` running requests a pod."""
    name = resource_name(profile, engine)
    target = {"type": "AverageValue", "averageValue": str(plan.target_concurrency)}
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"{name}-predictor", "namespace": profile.days.day5.namespace,
                     "labels": labels(profile, engine, name)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-predictor"},
                 "minReplicas": plan.min_replicas, "maxReplicas": plan.max_replicas,
                 "metrics": [{"type": "Pods", "pods": {"metric": {"name": running_requests_metric(engine)},
                                                       "target": target}}]},
    }  # fmt: skip


def inference_service(profile: Profile, engine: str, plan: ReplicaPlan | None = None) -> dict[str, Any]:
    name = resource_name(profile, engine)
    low, high = (plan.min_replicas, plan.max_replicas) if plan else (1, profile.days.day5.max_replicas)
    predictor = {"minReplicas": low, "maxReplicas": high,
                 "containers": [container(profile, engine, "kserve-container")],
                 **pod_placement(profile, f"{name}-model-cache")}  # fmt: skip
    annotations = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    if plan and plan.target_concurrency:
        annotations["serving.kserve.io/autoscalerClass"] = "external"  # the HPA from ``autoscaler`` scales it
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": profile.days.day5.namespace, "labels": labels(profile, engine, name),
                     "annotations": annotations},
        "spec": {"predictor": predictor},
    }  # fmt: skip


def deployment(profile: Profile, engine: str, plan: ReplicaPlan | None = None) -> dict[str, Any]:
    name = resource_name(profile, engine)
    pod_labels = labels(profile, engine, name)
    pod_spec = {"containers": [container(profile, engine, engine)], **pod_placement(profile, f"{name}-model-cache")}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": profile.days.day5.namespace, "labels": pod_labels},
        "spec": {"replicas": plan.min_replicas if plan else 1,
                 "strategy": {"type": "Recreate"},  # never two pods on one GPU during a rollout
                 "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec}},
    }  # fmt: skip


def service(profile: Profile, engine: str) -> dict[str, Any]:
    name = resource_name(profile, engine)
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": profile.days.day5.namespace, "labels": labels(profile, engine, name)},
        "spec": {"selector": {"app.kubernetes.io/name": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}]},
    }  # fmt: skip


def render(
    profile: Profile, flavor: Flavor = "kserve", engine: str | None = None, plan: ReplicaPlan | None = None
) -> list[dict[str, Any]]:
    """The documents to apply, in order; ``plan``: replicas from measurements (else the profile's)."""
    engine = engine or profile.engine
    if engine not in profile.engines:
        raise ManifestError(f"profile {profile.name} has no engines.{engine} section")
    mismatch = get_engine(engine).release_mismatch(profile.engines[engine].image)
    if mismatch:
        warnings.warn(f"profile {profile.name}, engines.{engine}: {mismatch}", EngineReleaseWarning, stacklevel=2)
    claim = model_cache_claim(profile, f"{resource_name(profile, engine)}-model-cache")
    if flavor == "kserve":
        scaled = [autoscaler(profile, engine, plan)] if plan and plan.target_concurrency else []
        return [claim, inference_service(profile, engine, plan), *scaled]
    return [claim, deployment(profile, engine, plan), service(profile, engine)]


class _NoAliasDumper(yaml.SafeDumper):
    """Repeated probe blocks print in full: anchors confuse people reading a manifest."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=_NoAliasDumper, sort_keys=False, width=120)


def validate_all(documents: list[dict[str, Any]]) -> list[str]:
    """Schema and policy problems of every document, each prefixed with its kind/name."""
    problems = []
    for doc in documents:
        result = validate(doc)
        label = f"{result.kind}/{result.name}"
        problems += [f"{label}: {e}" for e in result.errors] + [f"{label}: {e}" for e in policy_errors(doc)]
    return problems


@dataclass(frozen=True)
class ValidationResult:
    kind: str
    name: str
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(document: dict[str, Any], k8s_version: str = "1.33.0") -> ValidationResult:
    """Core kinds against Kubernetes' own OpenAPI schemas (``kubernetes-validate``, strict:
    unknown fields are errors); an InferenceService against KServe v1beta1's field names and
    its predictor's pod fields against Kubernetes' PodSpec."""
    kind = str(document.get("kind", "?"))
    name = str(document.get("metadata", {}).get("name", "?")) if isinstance(document.get("metadata"), dict) else "?"
    if kind == "InferenceService":
        return ValidationResult(kind, name, tuple(_validate_inference_service(document, k8s_version)))
    return ValidationResult(kind, name, tuple(_kubernetes_errors(document, k8s_version)))


def _kubernetes_errors(document: dict[str, Any], k8s_version: str) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return [f"{path}: {exc.message}" if path else exc.message]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"no schema for apiVersion {document.get('apiVersion')!r} kind {document.get('kind')!r}: {exc}"]
    return []


def _validate_inference_service(document: dict[str, Any], k8s_version: str) -> list[str]:
    errors = []
    if document.get("apiVersion") != "serving.kserve.io/v1beta1":
        errors.append(
            f"apiVersion {document.get('apiVersion')!r}: InferenceService is served as serving.kserve.io/v1beta1"
        )
    errors += _unknown_fields(document, "V1beta1InferenceService", "")
    spec = document.get("spec") or {}
    errors += _unknown_fields(spec, "V1beta1InferenceServiceSpec", "spec.")
    predictor = spec.get("predictor")
    if not isinstance(predictor, dict):
        return [*errors, "spec.predictor: required"]
    errors += _unknown_fields(predictor, "V1beta1PredictorSpec", "spec.predictor.")
    pod_fields = {k: v for k, v in predictor.items() if k in POD_SPEC_FIELDS}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": document.get("metadata", {}).get("name", "x")},
           "spec": pod_fields}  # fmt: skip
    errors += [f"spec.predictor (as PodSpec): {e}" for e in _kubernetes_errors(pod, k8s_version)]
    return errors


def _unknown_fields(obj: Any, model: str, prefix: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{prefix.rstrip('.') or 'document'}: expected a mapping"]
    known = KSERVE_FIELDS[model]
    return [f"{prefix}{key}: not a field of KServe {model}" for key in obj if key not in known]


def containers_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec") or {}
    pod = spec.get("predictor") or (spec.get("template") or {}).get("spec") or {}
    return [c for c in pod.get("containers") or [] if isinstance(c, dict)]


def policy_errors(document: dict[str, Any]) -> list[str]:
    """What a schema accepts but production must not: floating images, no probes, no /dev/shm."""
    errors = []
    for c in containers_of(document):
        image, name = str(c.get("image", "")), c.get("name", "?")
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            errors.append(f"container {name}: image {image!r} is not pinned (use a release tag, never latest)")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in c:
                errors.append(f"container {name}: no {probe} (model load takes minutes; traffic needs readiness)")
        if not any(m.get("mountPath") == "/dev/shm" for m in c.get("volumeMounts") or []):
            errors.append(f"container {name}: no /dev/shm volume (the default 64 MiB breaks tensor parallel)")
    return errors
