"""A fake RunPod GraphQL API on 127.0.0.1, enough for the calls `tierocr deploy pod` makes.

It answers by the operation named in the query (gpuTypes, podFindAndDeployOnDemand, pod, myself { pods },
podResume, podStop, podTerminate), the way RunPod's API does, and records every request. String arguments
are read as GraphQL string literals (escapes included). Faults are scripted: GPU types that are sold out,
a number of 5xx answers before the next success, a create whose answer is lost after the pod was made,
pods that never start, a key that is refused.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PRICES = {
    "NVIDIA A40": (0.44, 0.35),
    "NVIDIA A100 80GB PCIe": (1.64, 1.19),
    "NVIDIA A100-SXM4-80GB": (1.74, 1.39),
    "NVIDIA H100 80GB HBM3": (2.99, 2.69),
    "NVIDIA H100 PCIe": (2.39, 1.99),
}
SOLD_OUT = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)


class FakeRunPod:
    def __init__(self) -> None:
        self.sold_out: set[str] = set()
        self.fail_next = 0  # 5xx answers (HTML bodies, as a proxy gives) before the next real one
        self.never_running = False
        self.lose_create_answers = 0  # creates that rent the pod but answer 504, as a timed-out gateway does
        self.refuse_key = False
        self.polls_until_running = 2
        self.requests: list[dict[str, Any]] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = json.loads(body)["query"]
                with fake.lock:
                    fake.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), "query": query}
                    )
                    if fake.refuse_key:
                        self._send(401, b'{"error": "unauthorized"}', "application/json")
                        return
                    if fake.fail_next:
                        fake.fail_next -= 1
                        self._send(503, b"<html>503 Service Temporarily Unavailable</html>", "text/html")
                        return
                    answer = fake.answer(query)
                    if "podFindAndDeployOnDemand" in query and "data" in answer and fake.lose_create_answers:
                        fake.lose_create_answers -= 1
                        self._send(504, b"<html>504 Gateway Time-out</html>", "text/html")
                        return
                self._send(200, json.dumps(answer).encode(), "application/json")

            def _send(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRunPod:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def queries(self, name: str) -> list[str]:
        return [r["query"] for r in self.requests if name in r["query"]]

    def answer(self, query: str) -> dict[str, Any]:
        def arg(name: str) -> str | None:
            m = re.search(name + r':\s*("(?:[^"\\]|\\.)*")', query)
            return json.loads(m.group(1)) if m else None

        if "gpuTypes" in query:
            gpu = arg("id")
            if gpu not in PRICES:
                return {"data": {"gpuTypes": []}}
            secure, community = PRICES[gpu]
            return {
                "data": {
                    "gpuTypes": [
                        {
                            "id": gpu,
                            "displayName": gpu.replace("NVIDIA ", ""),
                            "memoryInGb": 48,
                            "securePrice": secure,
                            "communityPrice": community,
                            "lowestPrice": {
                                "minimumBidPrice": community / 2,
                                "uninterruptablePrice": community,
                            },
                        }
                    ]
                }
            }
        if "podFindAndDeployOnDemand" in query:
            gpu = arg("gpuTypeId")
            if gpu in self.sold_out:
                return {"errors": [{"message": SOLD_OUT}]}
            pod_id = f"pod{len(self.pods) + 1}"
            env = {
                json.loads(k): json.loads(v)
                for k, v in re.findall(r'\{key: ("(?:[^"\\]|\\.)*"), value: ("(?:[^"\\]|\\.)*")\}', query)
            }
            self.pods[pod_id] = {"gpu": gpu, "polls": 0, "status": "RUNNING", "name": arg("name"), "env": env}
            return {
                "data": {
                    "podFindAndDeployOnDemand": {
                        "id": pod_id,
                        "imageName": arg("imageName"),
                        "env": [],
                        "machineId": "m1",
                        "machine": {"podHostId": pod_id + "-host"},
                    }
                }
            }
        if "podResume" in query:
            pod = self.pods[arg("podId") or ""]
            pod.update(status="RUNNING", polls=0)
            return {"data": {"podResume": {"id": arg("podId"), "desiredStatus": "RUNNING"}}}
        if "podStop" in query:
            self.pods[arg("podId") or ""]["status"] = "EXITED"
            return {"data": {"podStop": {"id": arg("podId"), "desiredStatus": "EXITED"}}}
        if "podTerminate" in query:
            self.pods.pop(arg("podId") or "", None)
            return {"data": {"podTerminate": None}}
        if "myself" in query:
            pods = [{"id": pod_id, "name": pod["name"]} for pod_id, pod in self.pods.items()]
            return {"data": {"myself": {"pods": pods}}}
        if "pod(" in query:
            pod_id = arg("podId") or ""
            pod = self.pods.get(pod_id)
            if pod is None:
                return {"data": {"pod": None}}
            pod["polls"] += 1
            up = (
                pod["status"] == "RUNNING"
                and not self.never_running
                and pod["polls"] > self.polls_until_running
            )
            return {
                "data": {
                    "pod": {
                        "id": pod_id,
                        "name": pod["name"],
                        "desiredStatus": pod["status"],
                        "costPerHr": PRICES.get(pod["gpu"], (0, 0))[0],
                        "uptimeSeconds": 12 if up else 0,
                        "machine": {"gpuDisplayName": (pod["gpu"] or "").replace("NVIDIA ", "")},
                        "runtime": {"ports": [{"privatePort": 8007, "publicPort": 8007, "type": "http"}]}
                        if up
                        else None,
                    }
                }
            }
        return {"errors": [{"message": f"fake RunPod does not know this query: {query[:80]}"}]}
