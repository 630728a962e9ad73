"""The VLM client against a real HTTP server on loopback: every retry, breaker and loop path."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from fake_vlm import (
    GOOD_FORMULA,
    GOOD_PAGE,
    GOOD_TABLE,
    FakeVlm,
    closed_port,
    drip,
    endless,
    loop,
    malformed,
    slow,
    status,
    text,
)
from PIL import Image

from tierocr.config import VlmSettings
from tierocr.engines.vlm import (
    CircuitBreaker,
    VlmClient,
    VlmRepetitionError,
    VlmRequestError,
    VlmUnavailableError,
    retry_after_seconds,
)
from tierocr.engines.vlm_profiles import Task


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVlm]:
    with FakeVlm() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeVlm) -> FakeVlm:
    server.requests.clear()
    assert server.pending == 0, "a previous test left script entries behind"
    return server


def settings(url: str, **extra: Any) -> VlmSettings:
    base: dict[str, Any] = {"url": url, "model": "glm-test", "retries": 3}
    base |= {"backoff_base": 0.01, "backoff_max": 0.05}
    return VlmSettings(**{**base, **extra})


class Sleeps:
    """Records backoff delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def page_image() -> Image.Image:
    return Image.new("RGB", (120, 80), "white")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _recognize(cfg: VlmSettings, task: Task = Task.PAGE, **kw: Any) -> Any:
    async with VlmClient(cfg, **kw) as client:
        return await client.recognize(page_image(), task)


def test_good_answer_and_glm_request_shape(fake: FakeVlm) -> None:
    answer = run(_recognize(settings(fake.url), Task.TABLE))
    assert answer.text == GOOD_TABLE
    assert answer.attempts == 1
    (payload,) = fake.requests
    assert payload["model"] == "glm-test"
    image_part, text_part = payload["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "Table Recognition:"}
    uri = image_part["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.size == (120, 80)
    assert (payload["temperature"], payload["top_k"], payload["repetition_penalty"]) == (0.0, 1, 1.1)
    assert payload["max_tokens"] == 8192


def test_profiles_change_prompt_and_sampling(fake: FakeVlm) -> None:
    run(_recognize(settings(fake.url, profile="paddleocr-vl"), Task.FORMULA))
    run(_recognize(settings(fake.url, profile="lightonocr", image_format="jpeg", send_sampling_extras=False)))
    paddle, lighton = fake.requests
    assert paddle["messages"][0]["content"][1]["text"] == "Formula Recognition:"
    content = lighton["messages"][0]["content"]
    assert len(content) == 1 and content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "top_k" not in lighton and lighton["top_p"] == 0.9


def test_large_images_are_scaled_down(fake: FakeVlm) -> None:
    async def go() -> None:
        async with VlmClient(settings(fake.url, image_max_side=100)) as client:
            await client.recognize(Image.new("RGB", (400, 200), "white"))

    run(go())
    uri = fake.requests[0]["messages"][0]["content"][0]["image_url"]["url"]
    assert Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size == (100, 50)


def test_429_retry_after_seconds_is_honoured(fake: FakeVlm) -> None:
    fake.script(status(429, retry_after="3"))
    sleeps = Sleeps()
    answer = run(_recognize(settings(fake.url), sleep=sleeps))
    assert answer.text.strip() == GOOD_PAGE.strip() and answer.attempts == 2
    assert len(sleeps.delays) == 1 and sleeps.delays[0] >= 3.0


def test_429_retry_after_http_date_is_honoured(fake: FakeVlm) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    fake.script(status(429, retry_after=when))
    sleeps = Sleeps()
    run(_recognize(settings(fake.url), sleep=sleeps))
    assert 15.0 <= sleeps.delays[0] <= 20.0


def test_retry_after_is_capped(fake: FakeVlm) -> None:
    fake.script(status(503, retry_after="3600"))
    sleeps = Sleeps()
    run(_recognize(settings(fake.url, retry_after_max=2.0), sleep=sleeps))
    assert sleeps.delays == [2.0]


def test_5xx_backs_off_exponentially_then_succeeds(fake: FakeVlm) -> None:
    fake.script(status(500), status(502), status(503))
    sleeps = Sleeps()
    answer = run(_recognize(settings(fake.url, backoff_base=1.0, backoff_max=100.0), sleep=sleeps))
    assert answer.attempts == 4 and len(fake.requests) == 4
    # equal jitter: attempt k waits between half and all of base * 2**k
    for k, delay in enumerate(sleeps.delays):
        assert 2**k / 2 <= delay <= 2**k


def test_5xx_until_retries_run_out(fake: FakeVlm) -> None:
    fake.script(status(500), status(500), status(500))
    with pytest.raises(VlmRequestError, match=r"3 attempts.*HTTP 500"):
        run(_recognize(settings(fake.url, retries=2), sleep=Sleeps()))
    assert len(fake.requests) == 3


def test_client_error_is_not_retried(fake: FakeVlm) -> None:
    fake.script(status(400))
    with pytest.raises(VlmRequestError, match="HTTP 400"):
        run(_recognize(settings(fake.url), sleep=Sleeps()))
    assert len(fake.requests) == 1


def test_malformed_answer_fails(fake: FakeVlm) -> None:
    fake.script(malformed())
    with pytest.raises(VlmRequestError, match="malformed"):
        run(_recognize(settings(fake.url), sleep=Sleeps()))


def test_slow_answer_times_out_and_is_retried(fake: FakeVlm) -> None:
    fake.script(slow(5.0))
    answer = run(_recognize(settings(fake.url, timeout=0.3), sleep=Sleeps()))
    assert answer.attempts == 2 and len(fake.requests) == 2


def test_a_dripping_answer_meets_one_deadline_per_attempt(fake: FakeVlm) -> None:
    # One byte per 0.1 s never trips a per-read timeout of 0.5 s; the attempt's deadline must.
    fake.script(drip(0.1))
    with pytest.raises(VlmRequestError, match=r"no complete answer within 0\.5s"):
        run(_recognize(settings(fake.url, timeout=0.5, retries=0), sleep=Sleeps()))


def test_an_endless_answer_is_cut_at_the_size_cap_and_not_retried(fake: FakeVlm) -> None:
    fake.script(endless())
    with pytest.raises(VlmRequestError, match="over the 65536 bytes limit"):
        run(_recognize(settings(fake.url, max_response_bytes=65536), sleep=Sleeps()))
    assert len(fake.requests) == 1


def test_connection_refused_is_retried_then_fails() -> None:
    sleeps = Sleeps()
    with pytest.raises(VlmRequestError, match="ConnectError"):
        run(_recognize(settings(f"http://127.0.0.1:{closed_port()}/v1", retries=2), sleep=sleeps))
    assert len(sleeps.delays) == 2


def test_breaker_opens_fails_fast_then_half_opens(fake: FakeVlm) -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10.0, clock=lambda: now[0])
    fake.script(status(500), status(500))
    cfg = settings(fake.url, retries=0)

    async def go() -> None:
        async with VlmClient(cfg, breaker=breaker, sleep=Sleeps()) as client:
            for _ in range(2):
                with pytest.raises(VlmRequestError):
                    await client.recognize(page_image())
            assert breaker.state == "open"
            with pytest.raises(VlmUnavailableError):
                await client.recognize(page_image())
            assert len(fake.requests) == 2  # failed fast: nothing sent
            now[0] = 10.0
            assert breaker.state == "half-open"
            answer = await client.recognize(page_image())  # the probe succeeds and closes the circuit
            assert answer.attempts == 1 and breaker.state == "closed"

    run(go())


def test_breaker_failed_probe_reopens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=5.0, clock=lambda: now[0])
    breaker.record_failure()
    assert not breaker.allow()
    now[0] = 6.0
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()


def test_429_does_not_open_the_breaker(fake: FakeVlm) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=60.0)
    fake.script(status(429, retry_after="0"), status(429, retry_after="0"))
    answer = run(_recognize(settings(fake.url), breaker=breaker, sleep=Sleeps()))
    assert answer.attempts == 3 and breaker.state == "closed"


def test_repetition_loop_is_cut_and_retried_with_penalty(fake: FakeVlm) -> None:
    fake.script(loop(), text(GOOD_FORMULA))
    answer = run(_recognize(settings(fake.url), Task.TABLE))
    assert answer.text == GOOD_FORMULA and answer.loop_cut
    first, retry = fake.requests
    assert "frequency_penalty" not in first
    assert retry["frequency_penalty"] == 0.5 and retry["repetition_penalty"] == 1.3


def test_endless_loop_gives_up(fake: FakeVlm) -> None:
    fake.script(loop(), loop())
    with pytest.raises(VlmRepetitionError, match="loops") as caught:
        run(_recognize(settings(fake.url)))
    assert len(fake.requests) == 2
    assert caught.value.partial == "Totals\n| 1 | 2 | 3 |"  # the loop cut to one copy


def test_concurrency_is_bounded_and_connections_pooled() -> None:
    with FakeVlm(latency=0.05) as fake:

        async def go() -> list[Any]:
            async with VlmClient(settings(fake.url, max_concurrency=3)) as client:
                return await asyncio.gather(*(client.recognize(page_image()) for _ in range(12)))

        answers = run(go())
        assert len(answers) == 12
        assert fake.max_in_flight <= 3
        assert len(fake.client_ports) <= 3


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == pytest.approx(30.0)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_malformed_probe_does_not_wedge_the_breaker(fake: FakeVlm) -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=5.0, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 6.0
    fake.script(malformed())
    with pytest.raises(VlmRequestError):
        run(_recognize(settings(fake.url, retries=0), breaker=breaker))
    assert breaker.state == "open"  # the failed probe re-opened it (rather than leaving a probe pending)
    now[0] = 12.0
    assert run(_recognize(settings(fake.url, retries=0), breaker=breaker)).attempts == 1
    assert breaker.state == "closed"
