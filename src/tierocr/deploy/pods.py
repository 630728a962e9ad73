"""Cloud pods on RunPod through its GraphQL API, behind a small client with retries, fallback and a deadline.

The calls go to ``deploy.cloud_api_url`` (RunPod's endpoint by default, a fake provider on loopback in the
tests) through our own httpx client (runpod_graphql: why not the SDK). Credentials come from
``RUNPOD_API_KEY`` only: tierocr never reads or writes RunPod's config file and never prints the key.
RunPod offers no push notification for pod state, so waiting for RUNNING reads the status with a
doubling interval until a deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tierocr.config import DeploySettings
from tierocr.deploy.runpod_graphql import (
    API_KEY_ENV,
    CloudError,
    GqlEnum,
    GraphQLClient,
    InventoryError,
    TransientError,
    operation,
)

T = TypeVar("T")
_GPU_FIELDS = (
    "{ id displayName memoryInGb securePrice communityPrice "
    "lowestPrice(input: {gpuCount: 1}) { uninterruptablePrice } }"
)
_POD_FIELDS = (
    "{ id name desiredStatus costPerHr uptimeSeconds machine { gpuDisplayName } "
    "runtime { ports { ip isIpPublic privatePort publicPort type } } }"
)


class PodTimeoutError(CloudError):
    """The pod did not report RUNNING before the deadline."""


@dataclass(frozen=True)
class Offer:
    gpu_type: str
    display_name: str
    memory_gb: int | None
    price_per_hr: float | None
    cloud: str


@dataclass(frozen=True)
class PodState:
    id: str
    name: str
    desired_status: str
    running: bool
    cost_per_hr: float | None
    gpu: str | None
    uptime_s: int | None
    ports: list[dict[str, Any]] = field(default_factory=list)

    def url(self, port: int) -> str:
        return f"https://{self.id}-{port}.proxy.runpod.net"


@dataclass(frozen=True)
class PodSpec:
    name: str
    image: str
    cloud_type: str
    container_disk_gb: int
    volume_gb: int
    ports: str
    env: dict[str, str]


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise CloudError(
            f"{API_KEY_ENV} is not set: export it (tierocr reads it from the environment only and never "
            "stores it)"
        )
    return key


class RunPodClient:
    """The RunPod operations `deploy pod` needs, as typed results; failures are CloudError subclasses."""

    def __init__(self, api_key: str, settings: DeploySettings) -> None:
        self._api = GraphQLClient(settings.cloud_api_url, api_key, settings.cloud_api_timeout_s)

    def offer(self, gpu_type: str, cloud: str) -> Offer:
        what = f"price of {gpu_type}"
        data = self._api.execute(what, operation("query", "gpuTypes", {"id": gpu_type}, _GPU_FIELDS))
        found = data.get("gpuTypes")
        if not isinstance(found, list):
            raise TransientError(f"{what}: the answer has no gpuTypes list")
        if not found or not isinstance(found[0], dict):
            raise CloudError(
                f"{what}: RunPod knows no GPU type {gpu_type!r}; fix gpu_types in the presets file"
            )
        raw = found[0]
        if cloud == "SECURE":
            price = raw.get("securePrice")
        elif cloud == "COMMUNITY":
            price = raw.get("communityPrice")
        else:
            price = (raw.get("lowestPrice") or {}).get("uninterruptablePrice")
        return Offer(
            gpu_type=gpu_type,
            display_name=raw.get("displayName") or gpu_type,
            memory_gb=raw.get("memoryInGb"),
            price_per_hr=float(price) if isinstance(price, int | float) else None,
            cloud=cloud,
        )

    def create(self, spec: PodSpec, gpu_type: str) -> str:
        what = f"create a pod on {gpu_type}"
        args = {
            "name": spec.name,
            "imageName": spec.image,
            "gpuTypeId": gpu_type,
            "cloudType": GqlEnum(spec.cloud_type),
            "gpuCount": 1,
            "supportPublicIp": True,
            "volumeInGb": spec.volume_gb,
            "containerDiskInGb": spec.container_disk_gb,
            "ports": spec.ports.replace(" ", ""),
            "env": [{"key": k, "value": v} for k, v in spec.env.items()],
        }
        data = self._api.execute(what, operation("mutation", "podFindAndDeployOnDemand", args, "{ id }"))
        raw = data.get("podFindAndDeployOnDemand")
        if not isinstance(raw, dict) or not raw.get("id"):
            raise TransientError(f"{what}: the answer has no pod id")
        return str(raw["id"])

    def find_by_name(self, name: str) -> str | None:
        """The id of this account's pod called ``name``: did a create whose answer got lost rent one?"""
        data = self._api.execute(f"look up pod {name}", "query { myself { pods { id name } } }")
        pods = (data.get("myself") or {}).get("pods")
        if not isinstance(pods, list):
            raise TransientError(f"look up pod {name}: the answer has no pod list")
        ids = [str(p["id"]) for p in pods if isinstance(p, dict) and p.get("name") == name and p.get("id")]
        return ids[0] if ids else None

    def get(self, pod_id: str) -> PodState:
        what = f"status of pod {pod_id}"
        raw = self._api.execute(what, operation("query", "pod", {"podId": pod_id}, _POD_FIELDS)).get("pod")
        if raw is None:
            raise CloudError(f"pod {pod_id}: no such pod on this account")
        if not isinstance(raw, dict):
            raise TransientError(f"{what}: the answer is not a pod")
        runtime = raw.get("runtime")
        return PodState(
            id=str(raw.get("id", pod_id)),
            name=str(raw.get("name", "")),
            desired_status=str(raw.get("desiredStatus", "UNKNOWN")),
            running=raw.get("desiredStatus") == "RUNNING" and bool(runtime),
            cost_per_hr=raw.get("costPerHr"),
            gpu=(raw.get("machine") or {}).get("gpuDisplayName"),
            uptime_s=raw.get("uptimeSeconds"),
            ports=list((runtime or {}).get("ports") or []),
        )

    def resume(self, pod_id: str) -> None:
        query = operation("mutation", "podResume", {"podId": pod_id, "gpuCount": 1}, "{ id desiredStatus }")
        self._api.execute(f"start pod {pod_id}", query)

    def stop(self, pod_id: str) -> None:
        query = operation("mutation", "podStop", {"podId": pod_id}, "{ id desiredStatus }")
        self._api.execute(f"stop pod {pod_id}", query)

    def terminate(self, pod_id: str) -> None:
        self._api.execute(f"terminate pod {pod_id}", operation("mutation", "podTerminate", {"podId": pod_id}))


def create_once(client: RunPodClient, spec: PodSpec, gpu_type: str) -> Callable[[], str]:
    """An attempt function for the Retrier that never rents twice.

    A timeout or a 5xx after the request went out says nothing about whether RunPod created the pod, and
    a blind retry would rent a second GPU nobody knows about. So after such a failure the next attempt
    first looks for a pod with the spec's (timestamped, unique) name and adopts it.
    """
    unclear = False

    def attempt() -> str:
        nonlocal unclear
        if unclear:
            existing = client.find_by_name(spec.name)
            if existing is not None:
                return existing
        try:
            return client.create(spec, gpu_type)
        except TransientError:
            unclear = True
            raise

    return attempt


class Retrier:
    """Retries with doubling backoff; the clock and the sleep are injectable so tests need not wait."""

    def __init__(
        self,
        settings: DeploySettings,
        log: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.log = log
        self.sleep = sleep
        self.clock = clock

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        s = self.settings
        for attempt in range(s.api_retries + 1):
            try:
                return fn()
            except (TransientError, InventoryError) as exc:
                if attempt == s.api_retries:
                    raise
                delay = min(s.api_backoff_max_s, s.api_backoff_s * 2**attempt)
                self.log(f"{exc}; retry {attempt + 1}/{s.api_retries} of {what} in {delay:.1f} s")
                self.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def wait_running(self, client: RunPodClient, pod_id: str, timeout_s: float | None = None) -> PodState:
        """Read the pod's status until it runs; PodTimeoutError (the pod is left as it is) at the deadline."""
        s = self.settings
        timeout = timeout_s if timeout_s is not None else s.pod_ready_timeout_s
        deadline = self.clock() + timeout
        delay = s.pod_poll_initial_s
        last = "no status read yet"
        while True:
            try:
                state = client.get(pod_id)
            except TransientError as exc:
                last = str(exc)
            else:
                if state.running:
                    return state
                last = f"desiredStatus {state.desired_status}, " + (
                    "no runtime yet (image pulling or machine starting)"
                    if state.desired_status == "RUNNING"
                    else "not running"
                )
            left = deadline - self.clock()
            if left <= 0:
                raise PodTimeoutError(
                    f"pod {pod_id} did not report RUNNING within {timeout:g} s ({last}); it still exists "
                    f"and may be billed: `tierocr deploy pod status {pod_id}`, then `stop` or `terminate`"
                )
            self.sleep(min(delay, left))
            delay = min(s.pod_poll_max_s, delay * 2)
