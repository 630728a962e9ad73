"""Settings of `tierocr batch` and of the page-checkpointed job store it shares with `/api/jobs`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BatchSettings(BaseModel):
    """Environment variables name the section then the field: ``TIEROCR_BATCH_RETRIES=5``."""

    db: str | None = Field(
        None,
        description="The job store: a SQLite file path or a postgresql:// URL (same schema); default a "
        "SQLite file in the output folder (OUT/.tierocr/batch.sqlite3).",
    )
    workers: int = Field(
        0,
        ge=0,
        description="Page worker processes (each loads its own models); 0: one per available core.",
    )
    pages_per_worker: int = Field(
        2, ge=1, description="Pages handed to one worker at a time: one read, the next one waiting."
    )
    retries: int = Field(
        3,
        ge=0,
        description="Times a page that failed (or whose worker died under it) is tried again before it goes "
        "to the dead-letter list.",
    )
    backoff_s: float = Field(
        2.0, ge=0, description="Wait before a failed page's first retry; doubled at each further retry."
    )
    backoff_max_s: float = Field(120.0, ge=0, description="Longest wait between two tries of a page.")
    ray_address: str | None = Field(
        None,
        description="Run the page tasks on Ray: 'auto' (RAY_ADDRESS, else a local cluster) or a cluster "
        "address; None runs local worker processes.",
    )
    ray_escalation_gpus: float = Field(
        1.0,
        ge=0,
        description="GPUs the escalation task asks Ray for when the cluster has GPUs (it then runs on a GPU "
        "node, beside the VLM); 0 keeps escalation in the coordinating process.",
    )
