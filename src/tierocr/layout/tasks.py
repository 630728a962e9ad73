"""What is done with a region, decided by its label through the config's task table (as GLM-OCR does)."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tierocr.config import LayoutSettings


class Task(StrEnum):
    TEXT = "text"  # recognised as text
    TABLE = "table"  # recognised as a table (HTML)
    FORMULA = "formula"  # kept as an image with placeholder text; LaTeX only with a VLM
    SKIP = "skip"  # a figure: kept with its crop, not recognised
    ABANDON = "abandon"  # page furniture: in the JSON, not in the Markdown


#: A label nobody configured is read as text: losing words is worse than a misfiled paragraph.
DEFAULT_TASK = Task.TEXT


class TaskMap:
    """Label → task lookup built once from ``LayoutSettings.tasks`` (task → labels)."""

    def __init__(self, settings: LayoutSettings) -> None:
        table: dict[str, Task] = {}
        for task_name, labels in settings.tasks.items():
            task = Task(task_name)
            for label in labels:
                key = _normalise(label)
                if key in table and table[key] is not task:
                    raise ValueError(f"layout label {label!r} is mapped to both {table[key]} and {task}")
                table[key] = task
        self._table: Mapping[str, Task] = MappingProxyType(table)

    def task_for(self, label: str) -> Task:
        return self._table.get(_normalise(label), DEFAULT_TASK)

    def labels_for(self, task: Task) -> list[str]:
        return sorted(label for label, mapped in self._table.items() if mapped is task)


def _normalise(label: str) -> str:
    """Detectors disagree on case and separators ("Figure caption", "figure_caption")."""
    return label.strip().lower().replace(" ", "_").replace("-", "_")
