"""The AudioCleaner enhance API, driven by a client written from the doc alone.

``task/create`` with an ``inputurl`` the server downloads and the 14 ``enhance_type`` flags, then
``task/get`` until ``success``, then GET the ``output`` URL.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.dialects.audiocleaner import FLAGS, plan
from app.settings import Settings
from tests._services import BACKENDS
from tests.app._http_fixtures import LoopbackServer, Reply, serve_http
from tests.dialects._openapi import assert_documented
from tests.dialects._server import RunningServer, backend_server, run_server
from tests.signals import make_speech_like, make_white, mix_at_snr, with_wav_data_size

KEY = "ac-key-1"
H = {"api-key": KEY}
SR = 16_000
CREATE = "/audio/api/v1/api-keys/enhance/task/create"
GET = "/audio/api/v1/api-keys/enhance/task/get"
ALL_FLAGS = dict.fromkeys(FLAGS, True)  # the doc's example body: every flag true
STUDIO_CHAIN = ["declick", "autoeq", "denoise", "remove_reverb", "compress", "deess", "loudness"]


def _noisy() -> bytes:
    rng = np.random.default_rng(5)
    clean, _ = make_speech_like(rng, SR, 65.0)  # 65 s: billed as 2 minutes
    noisy = mix_at_snr(clean, make_white(rng, clean.size), 10.0)
    buf = io.BytesIO()
    sf.write(buf, noisy, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


NOISY = _noisy()


def _echoed() -> bytes:
    rng = np.random.default_rng(6)
    clean, _ = make_speech_like(rng, SR, 10.0)
    d = round(0.2 * SR)  # 200 ms, gain 0.4
    echoed = clean.copy()
    echoed[d:] += 0.4 * clean[:-d]
    buf = io.BytesIO()
    sf.write(buf, echoed, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


ECHOED = _echoed()


def _silent() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(3 * SR, np.float32), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


SILENT = _silent()


def _mp3(x: np.ndarray, bit_rate: int) -> bytes:
    """``x`` (mono, SR) as a bare MP3 stream: no Xing/Info frame and no ID3 tag."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as oc:
        stream = oc.add_stream("libmp3lame", rate=SR)
        stream.codec_context.layout = "mono"
        stream.bit_rate = bit_rate
        for i in range(0, x.size, 1152):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(x[None, i : i + 1152]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = SR, i, Fraction(1, SR)
            for packet in stream.encode(frame):
                oc.mux(packet)
        for packet in stream.encode(None):
            oc.mux(packet)
    return buf.getvalue()


def _misleading_mp3() -> bytes:
    """52 s of MP3 whose header makes it look 13 minutes long.

    2 s at 8 kbit/s, then 50 s at 128 kbit/s, with no Xing frame: a reader that estimates the
    length from the first frame's bit rate and the file size (FFmpeg's header estimate) finds
    about 800 s; decoding finds 52 s.
    """
    rng = np.random.default_rng(8)
    quiet = _mp3((0.01 * rng.standard_normal(2 * SR)).astype(np.float32), 8_000)
    speech, _ = make_speech_like(rng, SR, 50.0)
    return quiet + _mp3(speech.astype(np.float32), 128_000)


MISLEADING_MP3 = _misleading_mp3()


@pytest.fixture(scope="module")
def origin() -> Iterator[LoopbackServer]:
    pages = {
        "/in.wav": Reply(body=NOISY),
        "/echo.wav": Reply(body=ECHOED),
        "/page.html": Reply(body=b"<html>hi</html>" * 20),
        "/silent.wav": Reply(body=SILENT),
        "/misleading.mp3": Reply(body=MISLEADING_MP3),
        "/cut_off.wav": Reply(body=with_wav_data_size(SILENT, 16000 * 2 * 7200)),  # says 2 h, holds less
    }
    with serve_http(pages) as s:
        yield s


@pytest.fixture(scope="module", params=BACKENDS)
def hush(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("audiocleaner"),
        workers=2,
        api_keys=(KEY,),
        url_allowlist=("127.0.0.1",),
    )
    with backend_server(request, settings) as s:
        yield s


@pytest.fixture
def client(hush: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hush.base, timeout=30) as c:
        yield c


def create(client: httpx.Client, url: str, flags: dict[str, bool]) -> str:
    r = client.post(CREATE, json={"inputurl": url, "enhance_type": flags}, headers=H)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["code"] == 100000
    assert out["message"] == "Request Success"
    assert_documented(client, "POST", CREATE, out)
    # the doc's job_id is 32 lowercase hex digits ("33b6251d7ba94edea8361c318736e746"); a dashed UUID
    # broke a client that checks it (a doc-only client audit)
    assert re.fullmatch(r"[0-9a-f]{32}", out["data"]["job_id"]), out
    return str(out["data"]["job_id"])


def wait(client: httpx.Client, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.post(GET, json={"job_id": job_id}, headers=H)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["code"] == 100000
        assert_documented(client, "POST", GET, out)
        data = out["data"]
        assert data["status"] in {"waiting", "success", "failed"}
        if data["status"] == "waiting":
            assert data["tasks_position"] >= 0
        else:
            return {**data, "message": out["message"]}
        time.sleep(0.1)
    raise AssertionError("the task never ended")


def test_audiocleaner_doc_example_all_flags_succeeds_and_reports_each(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    data = wait(client, create(client, origin.url("/in.wav"), ALL_FLAGS))
    assert data["status"] == "success", data
    assert data["output"] == data["result"]
    assert data["output"].startswith("http://127.0.0.1:")
    assert data["credit_time"] == 2  # 65 s is billed as 2 minutes
    report = data["report"]
    assert set(report) == set(FLAGS)  # all 14, each with its status
    assert report["remove_noise"]["status"] == "applied"
    assert report["remove_noise"]["measured"]["step"] == "denoise"
    assert report["mouth_sounds"]["status"] == "applied"
    assert "clicks_found" in report["mouth_sounds"]["measured"]
    assert report["normalize"]["status"] in {"applied", "approximated"}
    assert report["normalize"]["measured"]["target_lufs"] == -16.0
    assert "pauses_shortened" in report["long_silences"]["measured"]
    if report["long_silences"]["measured"]["pauses_shortened"]:
        assert report["long_silences"]["status"] == "applied"
    else:  # the engine ran and found no pause to shorten: it says so
        assert report["long_silences"]["status"] == "not_applied"
        assert "no pause longer than" in report["long_silences"]["reason"]
    assert report["fillers"]["measured"]["step"] == "fillers"
    if report["fillers"]["measured"]["fillers_cut"]:
        assert report["fillers"]["status"] == "applied"
    else:  # the engine ran and found nothing to cut: it says so
        assert report["fillers"]["status"] == "not_applied"
        assert "no filled pause found" in report["fillers"]["reason"]
    for cut in report["fillers"]["measured"]["cuts"]:  # each cut: input times and a confidence
        assert 0 <= cut["start_s"] < cut["end_s"] <= 65.0
        assert 0.0 <= cut["confidence"] <= 1.0
    for flag in ("stutters", "hesitations"):
        assert report[flag]["status"] == "not_applied"
        assert "F1 0.7" in report[flag]["reason"]
    # studio_sound shares declick, dereverb, denoise, auto-EQ and loudness with the other flags
    # (each ran once) and adds compression and de-essing: approximated, with every measurement
    studio = report["studio_sound"]
    assert studio["status"] == "approximated"
    assert "not a generative" in studio["reason"]
    assert list(studio["measured"]) == STUDIO_CHAIN
    assert studio["measured"]["denoise"] == report["remove_noise"]["measured"]
    assert studio["measured"]["compress"]["ratio"] == 2.5
    assert studio["measured"]["deess"]["band_hz"] == [4000.0, 7200.0]
    eq = studio["measured"]["autoeq"]
    if "curve" in eq:  # the bound it states is the one its curve keeps (here the autoeq flag's shared step)
        assert max(abs(g) for _, g in eq["curve"]) <= eq["max_gain_db"]
    # the echo engine ran, measured, and found no discrete echo: it says so and what it saw
    assert report["remove_echo"]["status"] == "not_applied"
    assert "no discrete echo" in report["remove_echo"]["reason"]
    assert report["remove_echo"]["measured"]["peak_score"] < report["remove_echo"]["measured"]["min_score"]
    # generated speech is dry: the dereverberation measured no reverberation and left it
    assert report["remove_reverb"]["status"] == "not_applied"
    assert "no reverberation" in report["remove_reverb"]["reason"]
    assert report["remove_reverb"]["measured"]["reverb_share"] < report["remove_reverb"]["measured"]["min_share"]
    assert report["autoeq"]["status"] == "applied"
    assert report["autoeq"]["measured"]["target"].startswith("Byrne et al. 1994")
    assert len(report["autoeq"]["measured"]["curve"]) >= 15
    with httpx.Client(timeout=30) as anonymous:
        got = anonymous.get(data["output"])
    assert got.status_code == 200
    assert int(got.headers["content-length"]) == data["file_size"]
    y, sr = sf.read(io.BytesIO(got.content), dtype="float32")
    x, _ = sf.read(io.BytesIO(NOISY), dtype="float32")
    assert sr == SR
    removed_s = report["long_silences"]["measured"]["removed_s"] + report["fillers"]["measured"]["removed_s"]
    assert abs(y.size - (x.size - removed_s * SR)) <= 2  # both time edits, at most a rounding apart
    # noise went down in the lead-in silence (remove_noise) ... and normalize raised the speech
    assert float(np.std(y[: SR // 4])) < float(np.std(x[: SR // 4]))


def test_audiocleaner_result_link_needs_no_key_and_the_document_says_so(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/audio/api/v1/api-keys/enhance/file/{name}"]["get"]["security"] == []
    assert paths[CREATE]["post"]["security"] == [{"apiKeyHeader": []}]


def test_audiocleaner_credit_time_is_what_the_decoded_audio_costs(client: httpx.Client, origin: LoopbackServer) -> None:
    """``credit_time`` is the charge, read from the decoded audio, not from a header's estimate."""
    data = wait(client, create(client, origin.url("/misleading.mp3"), {"normalize": True}))
    assert data["status"] == "success", data
    assert data["credit_time"] == 1  # 52 s; the header estimate (~800 s) would say 14
    with httpx.Client(timeout=30) as anonymous:
        y, sr = sf.read(io.BytesIO(anonymous.get(data["output"]).content), dtype="float32")
    assert 51.0 < y.size / sr < 53.0


def test_audiocleaner_task_whose_result_was_deleted_is_failed(client: httpx.Client, origin: LoopbackServer) -> None:
    """After ``DELETE /api/v1/jobs/{id}/result`` the task still read "success" with an output link
    that answered 404 (an audit): it reads "failed" with a reason that says why, and no link; the
    minutes it was charged stay said."""
    job_id = create(client, origin.url("/misleading.mp3"), {"normalize": True})
    done = wait(client, job_id)
    assert done["status"] == "success", done
    native = {"Authorization": f"Bearer {KEY}"}  # the same key, on the native API
    assert client.delete(f"/api/v1/jobs/{job_id}/result", headers=native).status_code == 200
    data = wait(client, job_id)
    assert data["status"] == "failed", data
    assert (data["output"], data["result"]) == ("", "")
    assert "deleted at its owner's request" in data["reason"]
    assert data["message"] == data["reason"]
    assert data["credit_time"] == done["credit_time"]
    assert f"charged {done['credit_time']} credit" in data["reason"]  # "failed" does not mean free here
    with httpx.Client(timeout=30) as anonymous:
        assert anonymous.get(done["output"]).status_code == 404


def test_audiocleaner_says_when_the_input_was_cut_off(client: httpx.Client, origin: LoopbackServer) -> None:
    # the native API warned; this dialect's answer had nowhere to say it
    data = wait(client, create(client, origin.url("/cut_off.wav"), {"normalize": True}))
    assert data["status"] == "success", data
    assert any("truncated" in w for w in data["warnings"]), data
    assert_documented(client, "POST", GET, {"code": 100000, "data": data, "message": "Request Success"})


def test_audiocleaner_plan_runs_a_shared_step_once_in_chain_order() -> None:
    steps, planned = plan({"normalize": True, "studio_sound": True, "remove_noise": True, "long_silences": True})
    assert [s.name for s in steps] == [*STUDIO_CHAIN[:-1], "long_silences", "loudness"]
    assert planned["studio_sound"]["status"] == "approximated"
    assert planned["studio_sound"]["steps"] == STUDIO_CHAIN
    assert planned["remove_noise"] == {"status": "applied", "step": "denoise"}
    steps, _ = plan({"remove_noise": True, "normalize": True})
    assert [s.name for s in steps] == ["denoise", "loudness"]  # unchanged for single-step flags
    # studio_sound takes its own order and a gentler EQ; without it the flags keep theirs
    steps, _ = plan({"studio_sound": True})
    assert [s.name for s in steps] == STUDIO_CHAIN
    assert next(s for s in steps if s.name == "autoeq").params == {"max_gain_db": 2.0}
    steps, _ = plan({"studio_sound": True, "autoeq": True})  # the autoeq flag runs as it would alone
    assert next(s for s in steps if s.name == "autoeq").params == {}
    steps, _ = plan({"remove_reverb": True, "remove_noise": True, "autoeq": True})
    assert [s.name for s in steps] == ["remove_reverb", "denoise", "autoeq"]


def test_audiocleaner_studio_sound_is_approximated_with_each_measurement(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    data = wait(client, create(client, origin.url("/in.wav"), {"studio_sound": True}))
    assert data["status"] == "success", data
    studio = data["report"]["studio_sound"]
    assert studio["status"] == "approximated"
    assert "DSP chain" in studio["reason"]
    measured = studio["measured"]
    assert list(measured) == STUDIO_CHAIN
    assert all(measured[name] for name in STUDIO_CHAIN)  # every step ran and reported
    assert measured["compress"]["max_gain_reduction_db"] > 0.0
    assert measured["compress"]["threshold_dbfs"] == pytest.approx(measured["compress"]["input_loudness_lufs"] + 3)
    assert "max_reduction_applied_db" in measured["deess"]
    assert measured["loudness"]["target_lufs"] == -16.0
    with httpx.Client(timeout=30) as anonymous:
        y, sr = sf.read(io.BytesIO(anonymous.get(data["output"]).content), dtype="float32")
    x, _ = sf.read(io.BytesIO(NOISY), dtype="float32")
    assert sr == SR
    assert y.size == x.size


def test_audiocleaner_only_unbuilt_flags_are_refused_at_create(client: httpx.Client, origin: LoopbackServer) -> None:
    """A task with only flags this build has no engine for was accepted, ended ``success`` with the
    input re-encoded, and charged its minutes (an audit; the FAQ charges for processing done). It
    is refused at create, with each flag's reason; beside another flag they are ``not_applied``."""
    r = client.post(CREATE, json={"inputurl": origin.url("/in.wav"), "enhance_type": {"stutters": True}}, headers=H)
    assert r.status_code == 400, r.text
    out = r.json()
    assert out["code"] == 100003
    assert "would change nothing" in out["message"]
    assert "no credit is charged" in out["message"]
    assert "F1 0.7" in out["message"]
    data = wait(client, create(client, origin.url("/in.wav"), {"stutters": True, "hesitations": True, "autoeq": True}))
    assert data["status"] == "success"
    for flag in ("stutters", "hesitations"):
        assert data["report"][flag]["status"] == "not_applied"
        assert "F1 0.7" in data["report"][flag]["reason"]


def test_audiocleaner_flags_that_change_nothing_say_not_applied(client: httpx.Client, origin: LoopbackServer) -> None:
    """On digital silence no flag of these does anything, and the report says so with the engine's reason."""
    flags = {"normalize": True, "long_silences": True, "mouth_sounds": True, "remove_noise": True}
    flags["remove_background_audio"] = True  # (it said applied: an outside audit)
    data = wait(client, create(client, origin.url("/silent.wav"), flags))
    assert data["status"] == "success", data
    for flag in flags:
        assert data["report"][flag]["status"] == "not_applied", (flag, data["report"][flag])
        assert data["report"][flag]["reason"], flag


def test_audiocleaner_remove_echo_reports_delay_and_gain(client: httpx.Client, origin: LoopbackServer) -> None:
    data = wait(client, create(client, origin.url("/echo.wav"), {"remove_echo": True, "autoeq": True}))
    assert data["status"] == "success", data
    echo = data["report"]["remove_echo"]
    assert echo["status"] == "applied"
    assert echo["measured"]["delay_ms"] == pytest.approx(200.0, abs=0.1)
    assert echo["measured"]["gain"] == pytest.approx(0.4, abs=0.05)
    assert data["report"]["autoeq"]["status"] == "applied"
    with httpx.Client(timeout=30) as anonymous:
        y, sr = sf.read(io.BytesIO(anonymous.get(data["output"]).content), dtype="float32")
    x, _ = sf.read(io.BytesIO(ECHOED), dtype="float32")
    assert sr == SR
    assert y.shape == x.shape


def test_audiocleaner_autoid_reports_each_decision_and_runs_the_chain(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    data = wait(client, create(client, origin.url("/echo.wav"), {"autoid": True}))
    assert data["status"] == "success", data
    auto = data["report"]["autoid"]
    assert auto["status"] == "applied"
    by = {d["engine"]: d for d in auto["decisions"]}
    assert set(by) == {"remove_echo", "remove_reverb", "declip", "denoise", "dehum", "autoeq", "loudness"}
    for d in by.values():
        assert {"on", "measure", "value", "threshold", "reason", "action"} <= set(d)
    assert by["remove_echo"]["on"]
    assert by["remove_echo"]["action"] == "added"
    assert "remove_echo" in auto["chain"]
    assert auto["measured"]["echo_found"] is True
    # with the flag set too, the explicit flag runs and autoid does not add it again
    data = wait(client, create(client, origin.url("/echo.wav"), {"autoid": True, "remove_echo": True}))
    by = {d["engine"]: d for d in data["report"]["autoid"]["decisions"]}
    assert by["remove_echo"]["action"] == "explicit"
    assert data["report"]["remove_echo"]["status"] == "applied"
    assert data["report"]["autoid"]["chain"].count("remove_echo") == 1


def test_audiocleaner_undecodable_input_fails_with_reason(client: httpx.Client, origin: LoopbackServer) -> None:
    data = wait(client, create(client, origin.url("/page.html"), {"remove_noise": True}))
    assert data["status"] == "failed"
    assert data["reason"]
    assert data["message"] == data["reason"]
    assert data["output"] == ""
    assert data["report"]["remove_noise"]["status"] == "not_applied"


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"enhance_type": {"remove_noise": True}}, 400, 100001, "inputurl"),
        ({"inputurl": "http://127.0.0.1:9/a.wav"}, 400, 100001, "enhance_type"),
        (
            {"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": {"remove_noise": "yes"}},
            400,
            100001,
            "true or false",
        ),
        ({"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": {"denoise": True}}, 400, 100002, "denoise"),
        ({"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": {"remove_noise": False}}, 400, 100003, "no flag"),
        ({"inputurl": "ftp://127.0.0.1/a.wav", "enhance_type": {"remove_noise": True}}, 400, 100004, "http"),
        ({"inputurl": "http://10.1.2.3/a.wav", "enhance_type": {"remove_noise": True}}, 400, 100004, "refused"),
        # a refused address says how an operator allows it
        (
            {"inputurl": "http://10.1.2.3/a.wav", "enhance_type": {"remove_noise": True}},
            400,
            100004,
            "HUSH_URL_ALLOWLIST",
        ),
        # a field of the wrong JSON type is named with the type it has, in JSON's words
        ({"inputurl": 5, "enhance_type": {"remove_noise": True}}, 400, 100001, "inputurl must be a string"),
        ({"inputurl": None, "enhance_type": {"remove_noise": True}}, 400, 100001, "not null"),
        ({"inputurl": " ", "enhance_type": {"remove_noise": True}}, 400, 100001, "inputurl is empty"),
        ({"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": ["remove_noise"]}, 400, 100001, "not an array"),
        ({"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": "remove_noise"}, 400, 100001, "must be an object"),
        ({"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": {"remove_noise": None}}, 400, 100001, "not null"),
        ({"inputurl": "http://127.0.0.1:9/a.wav", "enhance_type": {"remove_noise": "true"}}, 400, 100001, 'not "true"'),
    ],
)
def test_audiocleaner_create_errors_name_the_field(
    client: httpx.Client, body: dict[str, Any], status: int, code: int, words: str
) -> None:
    r = client.post(CREATE, json=body, headers=H)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert words in r.json()["message"]
    assert r.json()["data"] == {}


@pytest.mark.parametrize("headers", [{}, {"api-key": "wrong"}, {"x-api-key": KEY}])
def test_audiocleaner_invalid_key_is_101002(client: httpx.Client, headers: dict[str, str]) -> None:
    for path, body in ((CREATE, {"inputurl": "http://x/a.wav", "enhance_type": ALL_FLAGS}), (GET, {"job_id": "x"})):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 401
        assert r.json()["code"] == 101002
        if "api-key" not in headers:  # no key sent: the message says where it goes
            assert "api-key header" in r.json()["message"]


def test_audiocleaner_unknown_task_is_101008(client: httpx.Client) -> None:
    r = client.post(GET, json={"job_id": "33b6251d7ba94edea8361c318736e746"}, headers=H)
    assert r.status_code == 404
    assert r.json()["code"] == 101008
    r = client.post(GET, json={}, headers=H)
    assert r.status_code == 400
    assert r.json()["code"] == 100001
    assert "job_id is required" in r.json()["message"]
    for wrong, kind in ((123, "a number"), (["x"], "an array"), (None, "null")):
        r = client.post(GET, json={"job_id": wrong}, headers=H)
        assert (r.status_code, r.json()["code"]) == (400, 100001)
        assert f"job_id must be a string (the id task/create returned), not {kind}" in r.json()["message"]


def test_audiocleaner_rate_limit_is_101003_with_retry_after(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, workers=1, api_keys=(KEY,), rate_limit_per_minute=1)
    with run_server(settings) as hush, httpx.Client(base_url=hush.base, timeout=30) as c:
        c.post(GET, json={"job_id": "a"}, headers=H)
        r = c.post(GET, json={"job_id": "a"}, headers=H)
    assert r.status_code == 429
    assert r.json()["code"] == 101003
    assert int(r.headers["retry-after"]) >= 1


def _podcast() -> bytes:
    """Music 0-8 s, speech with a 3 s pause, music 22-30 s, in white noise at -50 dBFS."""
    from tests.dsp.test_music import chords

    rng = np.random.default_rng(12)
    a, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    b, _ = make_speech_like(rng, SR, 5.0, lead_silence_s=0.0)
    x = np.concatenate([chords(SR, 8.0), np.zeros(SR // 2), a, np.zeros(3 * SR), b, np.zeros(SR // 2), chords(SR, 8.0)])
    x = x + make_white(rng, x.size, -50.0)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), SR, format="WAV", subtype="FLOAT")
    return buf.getvalue()


PODCAST = _podcast()


@pytest.fixture(scope="module")
def music_origin() -> Iterator[LoopbackServer]:
    with serve_http({"/podcast.wav": Reply(body=PODCAST)}) as s:
        yield s


def test_audiocleaner_keep_music_and_background_flags_report_what_they_did(
    client: httpx.Client, music_origin: LoopbackServer
) -> None:
    flags = {"keep_music": True, "remove_noise": True, "remove_background_audio": True, "long_silences": True}
    data = wait(client, create(client, music_origin.url("/podcast.wav"), flags))
    assert data["status"] == "success", data
    report = data["report"]
    keep = report["keep_music"]
    assert keep["status"] == "applied", keep
    assert keep["measured"]["music_s"] > 14.0
    assert sorted(keep["measured"]["protects"]) == ["denoise", "long_silences", "remove_background"]
    assert report["remove_noise"]["measured"]["keep_music"]["bypassed_s"] == keep["measured"]["music_s"]
    background = report["remove_background_audio"]
    assert background["status"] == "applied"
    assert background["measured"]["gate"]["applied"] is True
    assert background["measured"]["keep_music"]["bypassed_s"] == keep["measured"]["music_s"]
    # with remove_noise set too, the noise is reduced once (by the denoise step), then gated
    assert background["measured"]["denoise"]["applied"] is False
    silences = report["long_silences"]["measured"]
    assert all(a >= 8.0 and b <= 22.0 for a, b in silences["cuts"])  # no cut in the music
    with httpx.Client(timeout=30) as anonymous:
        got = anonymous.get(data["output"])
    y, _ = sf.read(io.BytesIO(got.content), dtype="float32")
    x, _ = sf.read(io.BytesIO(PODCAST), dtype="float32")
    intro = slice(SR, 7 * SR)  # the music intro passes all three steps untouched
    np.testing.assert_allclose(y[intro], x[intro], atol=1e-6)


def test_audiocleaner_keep_music_without_a_step_to_spare_is_not_applied(
    client: httpx.Client, music_origin: LoopbackServer
) -> None:
    data = wait(client, create(client, music_origin.url("/podcast.wav"), {"keep_music": True}))
    assert data["status"] == "success", data
    keep = data["report"]["keep_music"]
    assert keep["status"] == "not_applied"
    assert "no step of this job changes music" in keep["reason"]
    assert keep["measured"]["music_s"] > 14.0


def test_normalize_is_judged_by_the_loudness_the_result_reads() -> None:
    # "approximated: more than 6 dB of limiting, the gain held back" stood beside a gain held back
    # by 0.05 dB and a result 0.4 LU off, while a WAV 0.3 LU short read "applied" (report audit)
    from app.dialects.audiocleaner import _loudness_miss

    met = {
        "target_lufs": -16.0,
        "measured_lufs": -24.8,
        "gain_db": 8.79,
        "limited_by_peak": True,
        "output_loudness_lufs": -16.38,
    }
    assert _loudness_miss(met) is None  # within EBU R 128's 0.5 LU
    short = {**met, "gain_db": 5.0, "output_loudness_lufs": -19.6, "limiter": {"max_reduction_db": 8.63}}
    why = _loudness_miss(short)
    assert why is not None
    assert "-19.6 LUFS, 3.6 LU under the -16 LUFS target" in why
    assert "-19.8 LUFS" in why
    assert "8.6 dB" in why
    assert _loudness_miss({"target_lufs": -16.0}) is None  # nothing measured: no verdict made up
