from __future__ import annotations

import pytest

from tierocr.config import LayoutSettings, Settings, load_settings
from tierocr.layout.tasks import Task, TaskMap


def test_default_mapping_covers_cdla_and_pp_doclayout_labels() -> None:
    tasks = TaskMap(LayoutSettings())
    assert tasks.task_for("table") is Task.TABLE
    assert tasks.task_for("equation") is Task.FORMULA
    assert tasks.task_for("display_formula") is Task.FORMULA
    assert tasks.task_for("figure") is Task.SKIP
    assert tasks.task_for("header") is Task.ABANDON
    assert tasks.task_for("footer") is Task.ABANDON
    assert tasks.task_for("figure_caption") is Task.TEXT
    assert tasks.task_for("Figure Caption") is Task.TEXT  # case and separators do not matter


def test_unknown_label_is_read_as_text() -> None:
    assert TaskMap(LayoutSettings()).task_for("marginalia") is Task.TEXT


def test_mapping_comes_from_config_overrides_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Overrides merge into the default table, so moving a label means emptying its old task.
    settings = load_settings(layout={"tasks": {"table": [], "skip": ["table", "chart"]}})
    tasks = TaskMap(settings.layout)
    assert tasks.task_for("table") is Task.SKIP
    assert tasks.task_for("reference") is Task.TEXT
    assert "table" in tasks.labels_for(Task.SKIP)

    monkeypatch.setenv("TIEROCR_LAYOUT_TASKS", '{"abandon": ["title"], "text": ["text"]}')
    from_env = TaskMap(Settings().layout)
    assert from_env.task_for("title") is Task.ABANDON
    assert from_env.task_for("table") is Task.TEXT  # the environment replaces the whole table


def test_a_label_mapped_to_two_tasks_is_rejected() -> None:
    with pytest.raises(ValueError, match="both"):
        TaskMap(LayoutSettings(tasks={"text": ["table"], "table": ["table"]}))
