"""Cloud pods through RunPod's official SDK, behind a small client with retries, fallback and a deadline.

The SDK (``runpod``, the ``cloud`` extra) talks GraphQL to ``$RUNPOD_API_BASE_URL`` (default RunPod's
API), which is also how the tests point it at a fake provider on loopback. Credentials come from
``RUNPOD_API_KEY`` only: tierocr never reads or writes RunPod's config file and never prints the key.
RunPod offers no push notification for pod state, so waiting for RUNNING reads the status with a
doubling interval until a deadline.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tierocr.config import DeploySettings
from tierocr.errors import TierOcrError

T = TypeVar("T")
API_KEY_ENV = "RUNPOD_API_KEY"
_SOLD_OUT = re.compile(r"no longer any instances|no instances (are )?available|not enough .* available", re.I)


class CloudError(TierOcrError):
    """A cloud call failed for good; the message says what to do."""


class InventoryError(CloudError):
    """The GPU type has no free machine right now."""


class TransientError(CloudError):
    """A connection error, a 5xx or a garbled answer: worth another try."""


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
    """The SDK calls we use, with its failures sorted into inventory, transient and final errors."""

    def __init__(self, api_key: str) -> None:
        try:
            import runpod
        except ImportError as exc:
            raise CloudError(f"cloud pods need RunPod's SDK: pip install 'tierocr[cloud]' ({exc})") from exc
        self._sdk = runpod
        # Set per client from the environment; the SDK would otherwise fall back to ~/.runpod/config.toml.
        runpod.api_key = api_key

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        import requests
        from runpod import error as rp_error

        try:
            return fn(*args, **kwargs)
        except rp_error.AuthenticationError as exc:
            raise CloudError(f"{what}: RunPod refused the API key ({API_KEY_ENV})") from exc
        except rp_error.QueryError as exc:
            message = str(exc)
            if _SOLD_OUT.search(message):
                raise InventoryError(f"{what}: {message}") from exc
            raise CloudError(f"{what}: RunPod answered: {message}") from exc
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            # Connection errors, timeouts, and 5xx pages the SDK fails to read as JSON or as data.
            raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def offer(self, gpu_type: str, cloud: str) -> Offer:
        raw = self._call(f"price of {gpu_type}", self._sdk.get_gpu, gpu_type)
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
            price_per_hr=float(price) if price is not None else None,
            cloud=cloud,
        )

    def create(self, spec: PodSpec, gpu_type: str) -> str:
        raw = self._call(
            f"create a pod on {gpu_type}",
            self._sdk.create_pod,
            spec.name,
            spec.image,
            gpu_type,
            cloud_type=spec.cloud_type,
            gpu_count=1,
            volume_in_gb=spec.volume_gb,
            container_disk_in_gb=spec.container_disk_gb,
            ports=spec.ports,
            env=spec.env,
            start_ssh=False,
        )
        if not isinstance(raw, dict) or not raw.get("id"):
            raise TransientError(f"create a pod on {gpu_type}: the answer has no pod id")
        return str(raw["id"])

    def get(self, pod_id: str) -> PodState:
        raw = self._call(f"status of pod {pod_id}", self._sdk.get_pod, pod_id)
        if raw is None:
            raise CloudError(f"pod {pod_id}: no such pod on this account")
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
        self._call(f"start pod {pod_id}", self._sdk.resume_pod, pod_id, 1)

    def stop(self, pod_id: str) -> None:
        self._call(f"stop pod {pod_id}", self._sdk.stop_pod, pod_id)

    def terminate(self, pod_id: str) -> None:
        self._call(f"terminate pod {pod_id}", self._sdk.terminate_pod, pod_id)


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
