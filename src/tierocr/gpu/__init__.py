"""The GPU lease: OCR-VL work and a resident LLM take turns on a shared card instead of hoping not to collide.

Importing this package is cheap, because `tierocr --help` imports it through the CLI: the lease API is
loaded on first use of a name below, and the Redis client, NVML and the proxy server only by the code
that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierocr.gpu.lease import (
        Hold,
        HolderRecord,
        Lease,
        LeaseError,
        LeaseLost,
        LeaseStatus,
        LeaseTimeout,
        WaiterRecord,
        create_lease,
    )

__all__ = [
    "Hold",
    "HolderRecord",
    "Lease",
    "LeaseError",
    "LeaseLost",
    "LeaseStatus",
    "LeaseTimeout",
    "WaiterRecord",
    "create_lease",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tierocr.gpu import lease

        return getattr(lease, name)
    raise AttributeError(f"module 'tierocr.gpu' has no attribute {name!r}")
