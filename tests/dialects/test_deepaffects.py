"""DeepAffects dialect over real HTTP: the vendor docs' examples, replayed, plus the error table.

One Hush server per module (worker start-up is paid once), a loopback HTTP server that hosts
input files and receives webhooks, and signals from ``tests/signals.py`` with known speech.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.jobs import steps
from app.main import create_app
from app.settings import Settings
from tests._services import BACKENDS
from tests.app._http_fixtures import LoopbackServer, RecordedRequest, Reply, Route, serve_http
from tests.dialects._server import RunningServer, backend_server, run_server
from tests.signals import make_speech_like, make_white, mix_at_snr

API = "/audio/generic/api/v1"
KEY = "k1"
EDGE_TOL_S = 0.05


# --------------------------------------------------------------------------- signals and files


def make_noisy_speech(
    seed: int, sr: int, duration_s: float = 3.0, snr_db: float = 20.0, channels: int = 1
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech-like audio with white noise; ``(audio (n,) or (n, channels), speech intervals)``."""
    rng = np.random.default_rng(seed)
    clean, intervals = make_speech_like(rng, sr, duration_s)
    noisy = mix_at_snr(clean, make_white(rng, clean.size), snr_db)
    if channels > 1:
        noisy = np.stack([noisy] * channels, axis=1)
    return noisy, intervals


def encode_file(audio: np.ndarray, sr: int, fmt: str) -> bytes:
    """``audio`` as a WAV/FLAC file, or as headerless PCM16 for ``fmt="RAW"``."""
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_audio(data: bytes, *, raw_sr: int | None = None) -> tuple[np.ndarray, int, str]:
    """``(samples (n, channels), rate, format)``; ``raw_sr`` reads headerless PCM16."""
    if raw_sr is not None:
        x, sr = sf.read(io.BytesIO(data), samplerate=raw_sr, channels=1, format="RAW", subtype="PCM_16", always_2d=True)
        return x, sr, "RAW"
    with sf.SoundFile(io.BytesIO(data)) as f:
        return f.read(always_2d=True), f.samplerate, f.format


@pytest.fixture(scope="module")
def speech_8k() -> tuple[np.ndarray, list[tuple[float, float]]]:
    return make_noisy_speech(11, 8000)


@pytest.fixture(scope="module")
def speech_16k() -> tuple[np.ndarray, list[tuple[float, float]]]:
    return make_noisy_speech(12, 16000)


@pytest.fixture(scope="module")
def flac_8k(speech_8k: tuple[np.ndarray, list[tuple[float, float]]]) -> bytes:
    return encode_file(speech_8k[0], 8000, "FLAC")


@pytest.fixture(scope="module")
def wav_16k(speech_16k: tuple[np.ndarray, list[tuple[float, float]]]) -> bytes:
    return encode_file(speech_16k[0], 16000, "WAV")


# --------------------------------------------------------------------------- servers


class Hooks:
    """Webhook bodies received by the loopback server, by ``request_id``."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server

    def url(self, path: str = "/hook") -> str:
        return self.server.url(path)

    def wait_for(self, request_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for req in list(self.server.requests):
                if req.method == "POST" and req.path.startswith("/hook"):
                    body = json.loads(req.body)
                    if body.get("request_id") == request_id:
                        assert req.headers.get("Content-Type", "").startswith("application/json")
                        return dict(body)
            time.sleep(0.05)
        raise AssertionError(f"no webhook for request_id {request_id!r} within {timeout_s:g} s")

    def count(self, request_id: str) -> int:
        return sum(
            1
            for req in list(self.server.requests)
            if req.method == "POST" and json.loads(req.body or b"{}").get("request_id") == request_id
        )


@pytest.fixture(scope="module")
def loopback(wav_16k: bytes) -> Iterator[LoopbackServer]:
    def ok(_: RecordedRequest) -> Reply:
        return Reply(status=200, body=b"ok")

    routes: dict[str, Route] = {
        "GET /speech.wav": Reply(body=wav_16k, headers={"Content-Type": "audio/wav"}),
        "POST /hook": ok,
    }
    with serve_http(routes) as server:
        yield server


@pytest.fixture(scope="module")
def hooks(loopback: LoopbackServer, hush: RunningServer) -> Hooks:
    loopback.requests.clear()  # each backend's run of the module counts its own deliveries
    return Hooks(loopback)


@pytest.fixture(scope="module", params=BACKENDS)
def hush(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(
        url_allowlist=("127.0.0.1",),
        data_dir=tmp_path_factory.mktemp("hush"),
        workers=1,
        api_keys=(KEY,),
        webhook_backoff_s=0.1,
    )
    with backend_server(request, settings) as server:
        yield server


@pytest.fixture(scope="module")
def client(hush: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hush.base, timeout=90.0) as c:
        yield c


def post(client: httpx.Client, route: str, body: Any, **query: str) -> httpx.Response:
    params = {"apikey": KEY, **query}
    return client.post(f"{API}/{route}", json=body, params=params)


def assert_no_nulls(body: dict[str, Any]) -> None:
    assert all(v is not None for v in body.values()), body


def assert_segments_match(
    segments: list[dict[str, Any]], intervals: list[tuple[float, float]], tol_s: float = EDGE_TOL_S
) -> None:
    assert [s["tag"] for s in segments] == ["speech"] * len(intervals), (segments, intervals)
    for seg, (start, end) in zip(segments, intervals, strict=True):
        assert isinstance(seg["start"], float)
        assert isinstance(seg["end"], float)
        assert abs(seg["start"] - start) <= tol_s, (seg, start)
        assert abs(seg["end"] - end) <= tol_s, (seg, end)


def merged(intervals: list[tuple[float, float]], min_gap_s: float) -> list[tuple[float, float]]:
    out = [intervals[0]]
    for start, end in intervals[1:]:
        if start - out[-1][1] < min_gap_s:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


# --------------------------------------------------------------------------- denoise


# deepaffects-denoise.md, Shell: data.json = {"content", "sampleRate": 8000, "encoding": "FLAC", "languageCode"}
def test_deepaffects_sync_denoise_doc_example(client: httpx.Client, flac_8k: bytes) -> None:
    body = {"content": b64(flac_8k), "sampleRate": 8000, "encoding": "FLAC", "languageCode": "en-US"}
    r = post(client, "sync/denoise", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"content", "sampleRate", "encoding", "languageCode"}
    assert_no_nulls(out)
    assert out["sampleRate"] == 8000
    assert out["encoding"] == "FLAC"
    assert out["languageCode"] == "en-US"
    x_in, _, _ = decode_audio(flac_8k)
    x_out, sr, fmt = decode_audio(base64.b64decode(out["content"], validate=True))
    assert (sr, fmt, x_out.shape) == (8000, "FLAC", x_in.shape)
    assert np.all(np.isfinite(x_out))


@pytest.mark.parametrize(
    ("fmt", "sr", "channels", "encoding", "sent_rate", "language", "answered"),
    [
        ("WAV", 16000, 1, "Wave", 16000, "en-US", "Wave"),  # the Python SDK's Audio.from_file
        # the JS SDK: MULAW for any .wav, 8000 for any rate; the bytes back are PCM16, so "Wave"
        ("WAV", 16000, 2, "MULAW", 8000, None, "Wave"),
        ("FLAC", 44100, 1, "FLAC", "44100", "de-DE", "FLAC"),  # rate as a string
        ("RAW", 16000, 1, "LINEAR16", 16000, "en-US", "LINEAR16"),  # headerless PCM16: the fields matter
    ],
)
def test_deepaffects_sync_denoise_keeps_container_rate_channels(
    client: httpx.Client,
    fmt: str,
    sr: int,
    channels: int,
    encoding: str,
    sent_rate: Any,
    language: str | None,
    answered: str,
) -> None:
    audio, _ = make_noisy_speech(21, sr, 2.0, channels=channels)
    data = encode_file(audio, sr, fmt) if fmt != "RAW" else (audio * 32767).astype("<i2").tobytes()
    body: dict[str, Any] = {"content": b64(data), "sampleRate": sent_rate, "encoding": encoding}
    if language:
        body["languageCode"] = language
    r = post(client, "sync/denoise", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert_no_nulls(out)
    assert out["sampleRate"] == sr  # the real rate, a number
    assert out["encoding"] == answered
    assert out["languageCode"] == (language or "en-US")
    result = base64.b64decode(out["content"], validate=True)
    x_out, sr_out, fmt_out = decode_audio(result, raw_sr=sr if fmt == "RAW" else None)
    assert (sr_out, fmt_out, x_out.shape[1]) == (sr, fmt, channels)
    assert abs(x_out.shape[0] - round(2.0 * sr)) <= 0.01 * 2.0 * sr
    if fmt == "RAW":
        assert len(result) == len(data)


# deepaffects-denoise.md, Output: "encoding: Encoding of audio file like MP3, WAV etc."
def test_deepaffects_encoding_names_the_container_sent_back(client: httpx.Client, wav_16k: bytes) -> None:
    # a label naming another container than the bytes' is answered with the real one
    r = post(client, "sync/denoise", {"content": b64(wav_16k), "encoding": "FLAC"})
    assert r.status_code == 200, r.text
    assert r.json()["encoding"] == "Wave"
    assert decode_audio(base64.b64decode(r.json()["content"]))[2] == "WAV"
    # a codec label is kept where it is true: a mu-law WAV comes back mu-law
    audio, _ = make_noisy_speech(22, 8000, 1.0)
    buf = io.BytesIO()
    sf.write(buf, audio, 8000, format="WAV", subtype="ULAW")
    for label in ("MULAW", "mulaw"):
        r = post(client, "sync/denoise", {"content": b64(buf.getvalue()), "encoding": label, "sampleRate": 8000})
        assert r.status_code == 200, r.text
        assert r.json()["encoding"] == label
        assert sf.info(io.BytesIO(base64.b64decode(r.json()["content"]))).subtype == "ULAW"


def test_deepaffects_request_id_with_a_control_character_is_refused_where_it_is(
    client: httpx.Client, hooks: Hooks, flac_8k: bytes
) -> None:
    """The async routes named the character's place in the internal key (10, not 2), and stored the
    audio before refusing; the sync VAD took a NUL and echoed it (a review)."""
    body = {"content": b64(flac_8k), "sampleRate": 8000, "encoding": "FLAC"}
    for route, query in (("async/denoise", {"webhook": hooks.url()}), ("async/vad", {"webhook": hooks.url()})):
        r = post(client, route, body, request_id="ab\ncd", **query)
        assert r.status_code == 400, r.text
        assert "('\\n' at position 2)" in r.json()["message"], r.json()
    r = post(client, "sync/vad", body, request_id="x\x00y")
    assert r.status_code == 400, r.text
    assert "control character" in r.json()["message"]


# deepaffects-denoise.md, Shell (async) and Python (async api); Output: Async, Webhook
def test_deepaffects_async_denoise_doc_example_posts_webhook(
    client: httpx.Client, hush: RunningServer, hooks: Hooks, flac_8k: bytes
) -> None:
    body = {"content": b64(flac_8k), "sampleRate": 8000, "encoding": "FLAC", "languageCode": "en-US"}
    r = post(client, "async/denoise", body, webhook=hooks.url(), request_id="abcd-1234")
    assert r.status_code == 200, r.text
    assert r.json() == {"request_id": "abcd-1234", "api": "denoise"}

    hook = hooks.wait_for("abcd-1234")
    assert set(hook) == {
        "request_id",
        "content",
        "sampleRate",
        "encoding",
        "languageCode",
        "sample_rate",
        "language_code",
    }
    assert_no_nulls(hook)
    assert (hook["sampleRate"], hook["sample_rate"]) == (8000, 8000)
    assert (hook["encoding"], hook["languageCode"], hook["language_code"]) == ("FLAC", "en-US", "en-US")
    x_out, sr, fmt = decode_audio(base64.b64decode(hook["content"], validate=True))
    assert (sr, fmt, x_out.shape) == (8000, "FLAC", decode_audio(flac_8k)[0].shape)

    # a repeat of the same request (a retry) answers the same and starts no twin
    again = post(client, "async/denoise", body, webhook=hooks.url(), request_id="abcd-1234")
    assert again.status_code == 200
    assert again.json() == {"request_id": "abcd-1234", "api": "denoise"}
    assert jobs_with_request_id(hush, "denoise", "abcd-1234") == 1
    # ...also serialised in another key order and spacing (a curl retry of an SDK's request): it
    # was a second job, processed and charged again (audit)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = client.post(
        f"{API}/async/denoise",
        content=reordered,
        params={"apikey": KEY, "webhook": hooks.url(), "request_id": "abcd-1234"},
        headers={"content-type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert jobs_with_request_id(hush, "denoise", "abcd-1234") == 1
    time.sleep(0.5)
    assert hooks.count("abcd-1234") == 1


def test_deepaffects_repeat_resends_a_webhook_that_failed_every_attempt(
    client: httpx.Client, hush: RunningServer, flac_8k: bytes
) -> None:
    # a repeat of a request whose webhook failed answered 200 and nothing was ever POSTed again:
    # DeepAffects has no status route, so the client waited for good (webhook audit)
    state = {"up": False}

    def flaky(_: RecordedRequest) -> Reply:
        return Reply(status=200 if state["up"] else 500, body=b"")

    with serve_http({"POST /flaky": flaky}) as receiver:
        body = {"content": b64(flac_8k), "sampleRate": 8000, "encoding": "FLAC", "languageCode": "en-US"}
        hook = receiver.url("/flaky")
        assert post(client, "async/denoise", body, webhook=hook, request_id="resend-1").status_code == 200
        deadline = time.monotonic() + 60
        while len(receiver.requests) < hush.settings.webhook_max_attempts:  # every attempt refused
            assert time.monotonic() < deadline, len(receiver.requests)
            time.sleep(0.1)
        time.sleep(0.5)
        failed = len(receiver.requests)
        state["up"] = True
        again = post(client, "async/denoise", body, webhook=hook, request_id="resend-1")
        assert again.status_code == 200
        while not any(r.path == "/flaky" for r in receiver.requests[failed:]):
            assert time.monotonic() < deadline, "the repeat sent no webhook"
            time.sleep(0.05)
        sent = json.loads(receiver.requests[failed].body)
        assert sent["request_id"] == "resend-1"
        assert jobs_with_request_id(hush, "denoise", "resend-1") == 1  # the same job, not a twin


def jobs_with_request_id(hush: RunningServer, api: str, rid: str) -> int:
    """How many jobs the server's store holds under the DeepAffects ``request_id`` ``rid``."""
    from app.jobs.backends import build_store

    store = build_store(hush.settings, migrate=False)  # SQLite, or PostgreSQL on the cluster
    try:
        rows = store._query("SELECT request_id FROM jobs WHERE request_id LIKE ?", (f"{api}:{rid}:%",))  # type: ignore[attr-defined]
    finally:
        store.close()
    return len(rows)


# deepaffects-denoise.md, Python (async api): the sample sends one fixed request_id for every request
def test_deepaffects_another_request_under_the_same_request_id_is_processed(
    client: httpx.Client, hush: RunningServer, hooks: Hooks, wav_16k: bytes, flac_8k: bytes
) -> None:
    rid = "request_id_example"
    for data in (wav_16k, flac_8k):
        r = post(client, "async/denoise", {"content": b64(data)}, webhook=hooks.url(), request_id=rid)
        assert r.status_code == 200, r.text
        assert r.json() == {"request_id": rid, "api": "denoise"}
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and hooks.count(rid) < 2:
        time.sleep(0.05)
    bodies = [json.loads(q.body) for q in list(hooks.server.requests) if q.method == "POST" and q.path == "/hook"]
    rates = sorted(b["sampleRate"] for b in bodies if b.get("request_id") == rid)
    assert rates == [8000, 16000]  # both files came back, each with the caller's id
    assert jobs_with_request_id(hush, "denoise", rid) == 2


def test_deepaffects_async_denoise_generates_request_id(client: httpx.Client, hooks: Hooks, wav_16k: bytes) -> None:
    r = post(client, "async/denoise", {"content": b64(wav_16k), "encoding": "Wave"}, webhook=hooks.url())
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["api"] == "denoise"
    assert isinstance(answer["request_id"], str)
    assert len(answer["request_id"]) >= 8
    hook = hooks.wait_for(answer["request_id"])
    assert hook["sampleRate"] == 16000
    assert hook["encoding"] == "Wave"


# --------------------------------------------------------------------------- VAD


# deepaffects-vad.md, Shell: data.json with content, sampleRate 8000, FLAC, minNonSpeechDuration 1
def test_deepaffects_async_vad_doc_example_content(
    client: httpx.Client, hooks: Hooks, flac_8k: bytes, speech_8k: tuple[np.ndarray, list[tuple[float, float]]]
) -> None:
    body = {
        "content": b64(flac_8k),
        "sampleRate": 8000,
        "encoding": "FLAC",
        "languageCode": "en-US",
        "minNonSpeechDuration": 1,
    }
    r = post(client, "async/vad", body, webhook=hooks.url(), request_id="vad-shell")
    assert r.status_code == 200, r.text
    assert r.json() == {"request_id": "vad-shell", "api": "vad"}
    hook = hooks.wait_for("vad-shell")
    assert hook["response"]["segments"] == hook["segments"]
    assert_segments_match(hook["segments"], merged(speech_8k[1], 1.0))


# deepaffects-vad.md, Javascript: url + sampleRate '8000' (a string) + minNonSpeechDuration 1
def test_deepaffects_async_vad_doc_example_url(
    client: httpx.Client,
    hooks: Hooks,
    loopback: LoopbackServer,
    speech_16k: tuple[np.ndarray, list[tuple[float, float]]],
) -> None:
    body = {
        "languageCode": "en-US",
        "sampleRate": "8000",
        "url": loopback.url("/speech.wav"),
        "minNonSpeechDuration": 1,
    }
    r = post(client, "async/vad", body, webhook=hooks.url(), request_id="vad-js")
    assert r.status_code == 200, r.text
    hook = hooks.wait_for("vad-js")
    assert_segments_match(hook["segments"], merged(speech_16k[1], 1.0))


# deepaffects-vad.md, Python: encoding "Wave", no sampleRate, content; the SDK on GitHub sends nulls
def test_deepaffects_async_vad_doc_example_python(
    client: httpx.Client, hooks: Hooks, wav_16k: bytes, speech_16k: tuple[np.ndarray, list[tuple[float, float]]]
) -> None:
    body = {
        "encoding": "Wave",
        "languageCode": "en-US",
        "minNonSpeechDuration": None,
        "sampleRate": None,
        "url": None,
        "content": b64(wav_16k),
    }
    r = post(client, "async/vad", body, webhook=hooks.url(), request_id="vad-py")
    assert r.status_code == 200, r.text
    hook = hooks.wait_for("vad-py")
    assert_segments_match(hook["segments"], speech_16k[1])


def test_deepaffects_sync_vad_extension_finds_known_pauses(
    client: httpx.Client, wav_16k: bytes, speech_16k: tuple[np.ndarray, list[tuple[float, float]]]
) -> None:
    r = post(client, "sync/vad", {"content": b64(wav_16k)}, request_id="sync-vad")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["request_id"] == "sync-vad"
    assert out["response"]["segments"] == out["segments"]
    assert_segments_match(out["segments"], speech_16k[1])


# --------------------------------------------------------------------------- validation and errors

NOT_AUDIO = b64(b"Hello, this is a plain text file and not audio at all. " * 20)
#: bytes with no header that are not text: what headerless PCM16 sent without its label looks like
NOT_PCM = b64(np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8).tobytes())


def _wav() -> str:
    audio, _ = make_noisy_speech(31, 8000, 1.0)
    return b64(encode_file(audio, 8000, "WAV"))


WAV = _wav()


@pytest.mark.parametrize(
    ("route", "body", "query", "status", "needle"),
    [
        # successes next to the failures they border
        ("sync/denoise", {"content": WAV, "sampleRate": 8000, "encoding": "Wave"}, {}, 200, None),
        ("sync/vad", {"content": WAV}, {}, 200, None),
        ("sync/denoise", {"content": WAV.replace("+", "-").replace("/", "_")}, {}, 200, None),  # URL-safe
        ("sync/denoise", {"content": "%%% not base64 %%%", "sampleRate": 8000, "encoding": "FLAC"}, {}, 400, "base64"),
        ("sync/denoise", {"content": "", "encoding": "FLAC"}, {}, 400, "empty"),
        ("sync/denoise", {"content": NOT_PCM, "sampleRate": 8000, "encoding": "FLAC"}, {}, 415, "LINEAR16"),
        ("sync/denoise", {"content": NOT_AUDIO, "sampleRate": 8000, "encoding": "FLAC"}, {}, 415, "not a recognized"),
        ("sync/denoise", {"sampleRate": 8000, "encoding": "FLAC"}, {}, 400, "content"),
        ("sync/denoise", {"content": WAV, "sampleRate": "fast"}, {}, 400, "sampleRate"),
        ("sync/denoise", {"content": NOT_AUDIO, "encoding": "LINEAR16"}, {}, 400, "sampleRate"),
        ("sync/vad", {"content": WAV, "url": "http://127.0.0.1:9/x.wav"}, {}, 400, "not both"),
        ("sync/vad", {"sampleRate": 8000}, {}, 400, "neither"),
        ("sync/vad", {"content": None, "url": None}, {}, 400, "neither"),
        ("sync/vad", {"content": ""}, {}, 400, "content is empty"),
        ("sync/vad", {"url": " "}, {}, 400, "url is empty"),
        ("sync/vad", {"content": WAV, "minNonSpeechDuration": -1}, {}, 400, "minNonSpeechDuration"),
        ("async/vad", {"url": "http://10.0.0.1/x.wav"}, {"webhook": "http://127.0.0.1:9/h"}, 400, "10.0.0.1"),
        ("async/vad", {"url": "file:///etc/passwd"}, {"webhook": "http://127.0.0.1:9/h"}, 400, "scheme"),
        ("async/vad", {"content": WAV}, {}, 400, "webhook"),
        ("async/denoise", {"content": WAV, "encoding": "Wave"}, {}, 400, "webhook"),
        ("async/denoise", {"content": WAV}, {"webhook": "http://169.254.169.254/latest"}, 400, "169.254"),
        ("sync/denoise", {"content": WAV}, {"apikey": "wrong"}, 401, "key"),
        ("sync/denoise", {"content": WAV}, {"apikey": ""}, 401, "key"),
        ("async/vad", {"content": WAV}, {"apikey": "", "webhook": "http://127.0.0.1:9/h"}, 401, "key"),
        ("sync/denoise", [1, 2], {}, 400, "JSON object"),
        ("sync/nothing", {"content": WAV}, {}, 404, "no route"),
    ],
)
def test_deepaffects_requests_table(
    client: httpx.Client, route: str, body: Any, query: dict[str, str], status: int, needle: str | None
) -> None:
    params = {"apikey": KEY, **query}
    if not params["apikey"]:
        del params["apikey"]
    r = client.post(f"{API}/{route}", json=body, params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    out = r.json()
    if status == 200:
        assert_no_nulls(out)
        return
    assert set(out) >= {"message", "code", "type"}
    assert out["code"] == status
    assert needle is not None
    assert needle.lower() in out["message"].lower(), out
    if status == 415 and isinstance(body, dict) and body.get("content") == NOT_AUDIO:
        assert "LINEAR16" not in out["message"], out  # text is not PCM without its label


@pytest.mark.parametrize(
    ("content_type", "raw", "status", "needle"),
    [
        (None, json.dumps({"content": WAV}).encode(), 200, None),  # no Content-Type at all
        ("text/plain", json.dumps({"content": WAV}).encode(), 200, None),
        ("application/x-www-form-urlencoded", json.dumps({"content": WAV}).encode(), 200, None),
        ("application/json", b"content=abc", 400, "not valid json"),
        ("application/json", b"", 400, "empty"),
        ("application/json", b"\xff\xfe{", 400, "not valid json"),
        ("application/json", b'{"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested too deeply"),
    ],
)
def test_deepaffects_body_parsed_whatever_the_content_type(
    client: httpx.Client, content_type: str | None, raw: bytes, status: int, needle: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post(f"{API}/sync/denoise", content=raw, params={"apikey": KEY}, headers=headers)
    assert r.status_code == status, r.text
    out = r.json()
    if needle:
        assert out["code"] == status
        assert needle in out["message"].lower()
    else:
        assert out["sampleRate"] == 8000


def test_deepaffects_trailing_slash_base_url(hush: RunningServer) -> None:
    # sdk-notes §0.1: host "http://hush:8000/" + "/audio/..." gives "//audio/..."
    r = httpx.post(hush.base + "/" + API + "/sync/denoise", params={"apikey": KEY}, json={"content": WAV}, timeout=90)
    assert r.status_code == 200, r.text
    assert r.json()["sampleRate"] == 8000


def test_deepaffects_openapi_documents_the_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for route in ("sync/denoise", "async/denoise", "async/vad", "sync/vad"):
        op = paths[f"{API}/{route}"]["post"]
        assert "requestBody" in op
        assert any(p["name"] == "apikey" for p in op["parameters"])


# deepaffects-vad.md: "Exactly one of url and content": a url the worker cannot fetch fails the job
def test_deepaffects_sync_vad_unfetchable_url_reports_job_reason(
    client: httpx.Client, loopback: LoopbackServer
) -> None:
    r = post(client, "sync/vad", {"url": loopback.url("/missing.wav")})
    assert r.status_code == 400, r.text
    out = r.json()
    assert out["code"] == 400
    assert out["type"].startswith("fetch")
    assert "404" in out["message"]


def test_deepaffects_async_vad_failure_webhook(client: httpx.Client, hooks: Hooks, loopback: LoopbackServer) -> None:
    r = post(client, "async/vad", {"url": loopback.url("/missing.wav")}, webhook=hooks.url(), request_id="vad-404")
    assert r.status_code == 200, r.text
    hook = hooks.wait_for("vad-404")
    assert set(hook) == {"request_id", "api", "error"}
    assert hook["api"] == "vad"
    assert hook["error"]["code"] == 400
    assert hook["error"]["type"].startswith("fetch")
    assert "404" in hook["error"]["message"]

    # the same request again, once its job has failed, runs afresh: a second failure webhook
    r = post(client, "async/vad", {"url": loopback.url("/missing.wav")}, webhook=hooks.url(), request_id="vad-404")
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and hooks.count("vad-404") < 2:
        time.sleep(0.05)
    assert hooks.count("vad-404") == 2
    # and with the link mended, under the same id, the segments come
    r = post(client, "async/vad", {"url": loopback.url("/speech.wav")}, webhook=hooks.url(), request_id="vad-404")
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and hooks.count("vad-404") < 3:
        time.sleep(0.05)
    last = [json.loads(q.body) for q in list(hooks.server.requests) if q.method == "POST" and b"vad-404" in q.body][-1]
    assert last["segments"]
    assert "error" not in last


# --------------------------------------------------------------------------- edge statuses without workers


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def edge_client(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process with its lifespan but no worker pool: queued jobs never run."""
    app = create_app(Settings(data_dir=tmp_path, workers=1, api_keys=(KEY,), **settings), workers=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://hush") as c:
        yield c


@pytest.mark.parametrize(
    ("settings", "content", "status", "needle"),
    [
        ({"sync_timeout_s": 0.2}, WAV, 504, "async"),  # no worker picks the job up
        ({"max_input_mb": 0.001}, WAV, 413, "limit"),  # decoded file over the limit
        ({"max_input_mb": 0.001}, WAV * 40, 413, "limit"),  # refused from Content-Length alone
        ({"max_json_mb": 0.001}, WAV * 40, 413, "HUSH_MAX_JSON_MB"),  # the JSON limit caps base64 bodies
    ],
)
@pytest.mark.anyio
async def test_deepaffects_edge_statuses(
    tmp_path: Path, settings: dict[str, Any], content: str, status: int, needle: str
) -> None:
    async with edge_client(tmp_path, **settings) as c:
        r = await c.post(f"{API}/sync/denoise", params={"apikey": KEY}, json={"content": content})
    assert r.status_code == status, r.text
    out = r.json()
    assert out["code"] == status
    assert needle in out["message"]
    if status >= 500:
        assert out["error_id"]


@pytest.mark.anyio
async def test_deepaffects_sync_timeout_cancels_the_job(tmp_path: Path) -> None:
    async with edge_client(tmp_path, sync_timeout_s=0.2) as c:
        r = await c.post(f"{API}/sync/denoise", params={"apikey": KEY}, json={"content": WAV})
        assert r.status_code == 504
    # it never left the queue: the message says so, not "long files" (a client would split a short file)
    assert "waited in the queue behind other jobs and never started" in r.json()["message"]
    assert "not charged" in r.json()["message"]
    with sqlite3.connect(f"file:{tmp_path / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        states = [row[0] for row in db.execute("SELECT state FROM jobs")]
    assert states == ["cancelled"]


def test_deepaffects_sync_request_the_client_gives_up_on_is_cancelled(tmp_path: Path) -> None:
    # a client whose own timeout fires cannot fetch the answer: its job must not run on and be charged
    with run_server(Settings(data_dir=tmp_path, api_keys=(KEY,)), workers=False) as server:
        with httpx.Client(base_url=server.base, timeout=1.0) as c, pytest.raises(httpx.ReadTimeout):
            c.post(f"{API}/sync/denoise", params={"apikey": KEY}, json={"content": WAV})
        deadline = time.monotonic() + 10.0
        states: list[str] = []
        while time.monotonic() < deadline:
            with sqlite3.connect(f"file:{tmp_path / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
                states = [row[0] for row in db.execute("SELECT state FROM jobs")]
            if states == ["cancelled"]:
                break
            time.sleep(0.1)
        assert states == ["cancelled"]


@pytest.mark.anyio
async def test_deepaffects_rate_limit_has_retry_after(tmp_path: Path) -> None:
    async with edge_client(tmp_path, rate_limit_per_minute=1) as c:
        first = await c.post(f"{API}/async/vad", params={"apikey": KEY, "webhook": "http://127.0.0.1:9/h"}, json={})
        second = await c.post(f"{API}/async/vad", params={"apikey": KEY, "webhook": "http://127.0.0.1:9/h"}, json={})
    assert first.status_code == 400
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1
    assert second.json()["code"] == 429


@pytest.mark.anyio
async def test_deepaffects_unbuilt_engine_is_501(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(steps.STEPS, "denoise", dataclasses.replace(steps.STEPS["denoise"], module="dsp._not_built"))
    async with edge_client(tmp_path) as c:
        r = await c.post(f"{API}/sync/denoise", params={"apikey": KEY}, json={"content": WAV})
    assert r.status_code == 501, r.text
    assert r.json()["type"] == "engine.unavailable"
