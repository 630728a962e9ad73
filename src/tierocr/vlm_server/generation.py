"""Per-row control of one batched `generate` call.

transformers takes one temperature, one top_p, one length and one set of stop strings per call; batching
requests that differ in those needs them applied row by row. `RowSampling` does the sampling part and
`RowTracker`, a stopping criterion that sees every new token, does lengths, stop strings, EOS, streaming,
cancellation and each row's deadline. Imported only once a model loads: it subclasses transformers' classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor, StoppingCriteria

from tierocr.vlm_server.jobs import GenRequest, GenResult


class RowSampling(LogitsProcessor):
    """Penalties, temperature and nucleus filtering per row; rows with temperature 0 keep only their argmax.

    `repetition_penalty` follows transformers (over the whole sequence, prompt included); OpenAI's
    `frequency_penalty` and `presence_penalty` count only generated tokens, hence `prompt_width`.
    """

    def __init__(self, requests: list[GenRequest], prompt_width: int, device: torch.device) -> None:
        def column(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device)[:, None]

        self.temps = column([r.temperature for r in requests])
        self.top_ps = column([r.top_p for r in requests])
        self.repetition = column([r.repetition_penalty for r in requests])
        self.frequency = column([r.frequency_penalty for r in requests])
        self.presence = column([r.presence_penalty for r in requests])
        self.penalised = any(
            r.repetition_penalty != 1.0 or r.frequency_penalty or r.presence_penalty for r in requests
        )
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float()
        if self.penalised:
            scores = self._penalise(input_ids, scores)
        neg_inf = torch.finfo(scores.dtype).min
        scaled = scores / self.temps.clamp(min=1e-5)
        sorted_logits, order = scaled.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token once the tokens before it already reach top_p; the first always stays.
        drop = (probs.cumsum(dim=-1) - probs) >= self.top_ps
        sorted_logits = sorted_logits.masked_fill(drop, neg_inf)
        sampled = torch.full_like(scaled, neg_inf).scatter(1, order, sorted_logits)
        only_best = torch.full_like(scores, neg_inf).scatter(1, scores.argmax(dim=-1, keepdim=True), 0.0)
        return torch.where(self.temps <= 0, only_best, sampled)

    def _penalise(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        seen = scores.gather(1, input_ids)
        seen = torch.where(seen < 0, seen * self.repetition, seen / self.repetition)
        scores = scores.scatter(1, input_ids, seen)
        generated = input_ids[:, self.prompt_width :]
        if generated.shape[1]:
            counts = torch.zeros_like(scores).scatter_add_(
                1, generated, torch.ones_like(generated, dtype=scores.dtype)
            )
            scores = scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)
        return scores


@dataclass
class _Row:
    request: GenRequest
    prompt_tokens: int
    ids: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0
    finish: str | None = None


class RowTracker(StoppingCriteria):
    """Finishes each row on its own terms and streams its text as it grows.

    Text sent to a streaming client holds back the last few characters that could still begin a stop
    string, and an unfinished multi-byte character, so nothing sent ever has to be taken back.
    """

    def __init__(
        self,
        requests: list[GenRequest],
        prompt_tokens: list[int],
        eos_ids: set[int],
        decode: Callable[[list[int]], str],
    ) -> None:
        self.rows = [_Row(r, n) for r, n in zip(requests, prompt_tokens, strict=True)]
        self.eos_ids = eos_ids
        self.decode = decode

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs: object
    ) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        last = input_ids[:, -1].tolist()
        for i, row in enumerate(self.rows):
            if row.finish is None:
                self._step(row, int(last[i]))
            done[i] = row.finish is not None
        return done

    def _step(self, row: _Row, token: int) -> None:
        req = row.request
        row.ids.append(token)
        if token in self.eos_ids:
            row.finish = "stop"
        elif len(row.ids) >= req.max_new_tokens:
            row.finish = "length"
        elif req.cancelled.is_set():
            row.finish = "stop"
        elif req.deadline is not None and time.monotonic() > req.deadline:
            row.finish = "timeout"
        if req.stops or req.emit is not None:
            self._refresh_text(row)
        if req.emit is not None:
            self._emit(row)

    def _refresh_text(self, row: _Row) -> None:
        row.text = self.decode(row.ids)
        for stop in row.request.stops:
            cut = row.text.find(stop)
            if cut >= 0:
                row.text = row.text[:cut]
                row.finish = "stop"

    def _emit(self, row: _Row) -> None:
        end = len(row.text)
        if row.finish is None:
            hold = max((len(s) for s in row.request.stops), default=1) - 1
            end -= hold
            while end > row.sent and row.text[end - 1] == "\ufffd":
                end -= 1
        if end > row.sent and row.request.emit is not None:
            row.request.emit(row.text[row.sent : end])
            row.sent = end

    def results(self) -> list[GenResult]:
        """Close every row, including those `generate` ended by its own overall length limit."""
        out = []
        for row in self.rows:
            if row.finish is None:
                row.finish = "length"
            if not row.request.stops and row.request.emit is None:
                row.text = self.decode(row.ids)
            if row.request.emit is not None:
                self._emit(row)
            reason = row.finish if row.finish in ("length", "timeout") else "stop"
            out.append(GenResult(row.text, reason, row.prompt_tokens, len(row.ids)))
        return out
