"""Per-row sampling inside one batch: what lets requests with different settings share a `generate`."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tierocr.vlm_server.generation import RowSampling  # noqa: E402
from tierocr.vlm_server.jobs import GenRequest  # noqa: E402


def row(**kw: float) -> GenRequest:
    return GenRequest(messages=[], images=[], max_new_tokens=4, **{"temperature": 0.0, "top_p": 1.0, **kw})


def test_greedy_rows_keep_only_their_argmax_and_sampling_rows_keep_the_nucleus() -> None:
    scores = torch.tensor([[1.0, 3.0, 2.0, 0.0], [1.0, 3.0, 2.0, 0.0], [1.0, 3.0, 2.0, 0.0]])
    rows = [row(temperature=0.0), row(temperature=1.0), row(temperature=1.0, top_p=0.5)]
    out = RowSampling(rows, 1, torch.device("cpu"))(torch.zeros(3, 1, dtype=torch.long), scores)
    finite = torch.isfinite(out) & (out > torch.finfo(out.dtype).min)
    assert finite[0].tolist() == [False, True, False, False]  # greedy
    assert finite[1].all()  # top_p 1 keeps every token
    assert finite[2].tolist() == [False, True, False, False]  # token 1 alone has p ≈ 0.66 ≥ 0.5


def test_temperature_sharpens_only_its_own_row() -> None:
    scores = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    rows = [row(temperature=0.5), row(temperature=2.0)]
    out = RowSampling(rows, 1, torch.device("cpu"))(torch.zeros(2, 1, dtype=torch.long), scores)
    gaps = (out[:, 1] - out[:, 0]).tolist()
    assert gaps == pytest.approx([2.0, 0.5])


def test_penalties_push_a_greedy_row_off_repeated_tokens_only_in_its_own_row() -> None:
    # Prompt is token 0; the row has generated token 1 twice. Token 1 leads before the penalty.
    ids = torch.tensor([[0, 1, 1], [0, 1, 1], [0, 1, 1]])
    scores = torch.tensor([[0.0, 3.0, 2.5]] * 3)
    rows = [row(), row(frequency_penalty=0.5), row(repetition_penalty=1.5)]
    out = RowSampling(rows, 1, torch.device("cpu"))(ids, scores)
    assert out.argmax(dim=-1).tolist() == [1, 2, 2]
