"""The playground and the offline docs in a real browser, against a real ``hush serve``."""

from __future__ import annotations

import functools
import http.server
import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests._hush import HushProcess, free_port
from tests.signals import make_speech_like, make_white

KEY = "browser-key-1"
H = {"x-api-key": KEY}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> HushProcess:
    # (loopback allowed to the URL fetcher: a URL input is served by the test itself)
    with HushProcess(tmp_path_factory.mktemp("hush"), workers=1, api_keys=KEY, url_allowlist="127.0.0.1") as proc:
        yield proc


@pytest.fixture(scope="module")
def noisy_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(16)
    sr = 16000
    speech, _ = make_speech_like(rng, sr, 4.0)
    audio = (speech + make_white(rng, speech.shape[0], -35.0)).astype(np.float32)
    path = tmp_path_factory.mktemp("in") / "noisy speech.wav"
    sf.write(path, audio, sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes of noise at 8 kHz: a job long enough to be caught mid-way."""
    rng = np.random.default_rng(17)
    path = tmp_path_factory.mktemp("long") / "ten minutes.wav"
    with sf.SoundFile(str(path), "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        for _ in range(10):
            f.write(make_white(rng, 8000 * 60, -30.0))
    return path


@pytest.fixture(scope="module")
def two_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two minutes of noise at 8 kHz: a job that runs for a second or two, and a quick result to draw."""
    rng = np.random.default_rng(19)
    path = tmp_path_factory.mktemp("two") / "two minutes.wav"
    sf.write(path, make_white(rng, 8000 * 120, -30.0), 8000, subtype="PCM_16")
    return path


@pytest.fixture
def page(browser: Any, server: HushProcess) -> Any:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(30_000)
    p.foreign: list[str] = []
    p.errors: list[str] = []

    def on_request(request: Any) -> None:
        if not request.url.startswith((server.url, "blob:", "data:")):
            p.foreign.append(request.url)

    p.on("request", on_request)
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    context.close()


def wait_for_result(page: Any, timeout: float | None = None) -> None:
    """Wait until the job's result is drawn and both players have been tried (the "before" loads
    after the result: its note, the A/B switch and the focus are set only then)."""
    page.wait_for_selector("#after-wave[data-ready=true]", **({} if timeout is None else {"timeout": timeout}))
    page.wait_for_selector("#compare[data-settled=true]")


def enter_key(page: Any) -> None:
    # the server wants a key: the page says so and opens the key field by itself
    page.wait_for_selector("#key-box[open]")
    assert "API key" in page.inner_text("#error")
    page.fill("#key", KEY)
    page.dispatch_event("#key", "change")
    page.wait_for_selector("#step-denoise:not([disabled])")


def test_playground_upload_process_compare_download(
    page: Any, server: HushProcess, noisy_wav: Path, screenshots: Path
) -> None:
    page.goto(f"{server.url}/playground")
    enter_key(page)
    with httpx.Client(base_url=server.url, headers=H) as client:
        steps = client.get("/api/v1/steps").json()
    # the page offers exactly the server's steps, and those not built are disabled
    for s in steps:
        assert page.is_disabled(f"#step-{s['name']}") is (not s["available"])
    assert page.is_checked("#step-denoise")
    # the engine is a choice, not a number field
    assert page.eval_on_selector("#step-denoise-engine", "e => e.tagName") == "SELECT"
    page.select_option("#step-denoise-engine", "dsp")
    assert page.is_enabled("#step-denoise-channels")  # the DSP engine's choice (the neural ones: each)
    options = "e => [...e.options].map((o) => o.value).join()"
    assert page.eval_on_selector("#step-denoise-channels", options) == "linked,each"
    page.check("#step-vad")
    page.check("#step-declick")
    page.set_input_files("#file", str(noisy_wav))
    assert "noisy speech.wav" in page.inner_text("#file-name")
    page.screenshot(path=screenshots / "playground-1-before-processing.png", full_page=True)

    page.click("#run")
    wait_for_result(page)
    page.wait_for_selector("#before-wave[data-ready=true]")
    assert page.evaluate("document.querySelector('#progress').value") == 100
    assert "succeeded — 100 %" in page.inner_text("#status")
    # the report is a table with one row per step, saying what was applied and measured
    rows = page.locator("#report tbody tr")
    assert rows.count() == 3, page.inner_text("#report")
    assert [rows.nth(i).locator("th").inner_text() for i in range(3)] == ["denoise", "declick", "vad"]
    assert "noise floor dbfs" in rows.nth(0).inner_text()
    assert "engine\ndsp" in rows.nth(0).inner_text()  # which engine ran, also when left at the default
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    with httpx.Client(base_url=server.url, headers=H) as client:
        reports = client.get(f"/api/v1/jobs/{job_id}").json()["result"]["steps"]
    for i, r in enumerate(reports):  # "applied" says no exactly where the engine says not_applied
        cell = rows.nth(i).locator("td").nth(0).inner_text()
        skipped = bool(r.get("not_applied")) or r.get("applied") is False
        assert cell.startswith("no —") is skipped, (r, cell)
        if r.get("not_applied"):
            assert r["not_applied"] in cell
    # VAD segments are drawn as regions on both waveforms, and spectrograms are drawn
    segments = page.evaluate("document.querySelector('#after-wave').dataset.regions")
    assert int(segments) > 0
    assert page.locator("#after-wave [part~=region]").count() == int(segments)  # (pierces the shadow root)
    assert page.locator("#before-wave [part~=region]").count() == int(segments)
    assert page.locator("#before-spec canvas").count() > 0
    assert page.locator("#after-spec canvas").count() > 0
    # A/B switches at the same position, by button and by keyboard
    # (the label says which take plays; no pressed state on top of it)
    assert page.inner_text("#ab") == "Listening: A (before)"
    assert page.get_attribute("#ab", "aria-pressed") is None
    page.click("#ab")
    assert page.inner_text("#ab") == "Listening: B (after)"
    page.keyboard.press("x")  # focus is still on the A/B button: the player's keys work there
    assert page.inner_text("#ab") == "Listening: A (before)"
    page.focus("#drop")  # ... and not on the drop zone (WCAG 2.1.4)
    page.keyboard.press("x")
    assert page.inner_text("#ab") == "Listening: A (before)"
    page.screenshot(path=screenshots / "playground-2-after-processing.png", full_page=True)

    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename == "noisy speech_hush.wav"  # named after the upload, not the job's id
    downloaded = Path(info.value.path()).read_bytes()
    with httpx.Client(base_url=server.url, headers=H) as client:
        api_result = client.get(f"/api/v1/jobs/{job_id}/result")
    assert api_result.status_code == 200
    assert downloaded == api_result.content
    out, _ = sf.read(io.BytesIO(downloaded))
    assert out.shape[0] == sf.info(str(noisy_wav)).frames
    assert page.foreign == []  # nothing loaded from another host
    assert page.errors == []


def test_playground_reads_on_a_phone(browser: Any, server: HushProcess, screenshots: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{server.url}/")
    page.wait_for_selector("#steps .step, #error:not([hidden])")
    # without a key the server says so, and the page shows it instead of an empty form
    assert "API key" in page.inner_text("#error")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=screenshots / "playground-3-phone.png", full_page=True)
    context.close()


def test_playground_drop_zone_and_run_are_keyboard_reachable(page: Any, server: HushProcess) -> None:
    page.goto(f"{server.url}/playground")
    enter_key(page)
    assert page.is_disabled("#run")  # no input yet
    assert page.inner_text("#run-hint") == "Choose a file or a URL."
    page.bring_to_front()  # a file chooser opens only from the focused page
    page.focus("#drop")
    assert page.evaluate("document.activeElement.id") == "drop"  # reached by keyboard focus
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # headless chromium now and then drops the activation a file chooser needs: press again then
    chooser_opened = False
    for _ in range(3):
        try:
            with page.expect_file_chooser(timeout=5_000) as chooser:
                page.keyboard.press("Enter")
        except PlaywrightTimeout:
            page.focus("#drop")
            continue
        chooser_opened = chooser.value is not None
        break
    assert chooser_opened
    page.fill("#url", "https://example.invalid/noisy.wav")
    assert page.is_enabled("#run")


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_api_docs_load_offline(page: Any, server: HushProcess, screenshots: Path, path: str, ready: str) -> None:
    page.goto(f"{server.url}{path}")
    page.wait_for_selector(ready)
    assert "Hush" in page.inner_text(ready)
    if path == "/docs":
        page.wait_for_selector(".swagger-ui .btn.authorize")
    page.screenshot(path=screenshots / f"docs{path.replace('/', '-')}.png")
    assert page.foreign == []
    assert page.errors == []


def test_playground_cancel_stops_a_running_job(page: Any, server: HushProcess, ten_minutes: Path) -> None:
    path = ten_minutes
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.check("#step-loudness")  # two passes over ten minutes: long enough to cancel
    page.set_input_files("#file", str(path))
    page.click("#run")
    page.wait_for_selector("#cancel:not([disabled])")
    page.wait_for_function("/in progress|queued/.test(document.querySelector('#status').textContent)")
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('cancelled')")
    assert page.is_disabled("#cancel")
    assert page.is_enabled("#run")  # ready to run again
    assert page.is_hidden("#compare")
    assert page.is_hidden("#error")
    assert page.errors == []


def test_playground_a_failed_cancel_is_not_said_after_the_job_ends(
    page: Any, server: HushProcess, two_minutes: Path
) -> None:
    """A Cancel lost in a network blip said "Cancel failed" in red, and still did so under the job
    that then succeeded (audit: the user could not tell whether the result held)."""
    page.route(
        "**/api/v1/jobs/*", lambda route: route.abort() if route.request.method == "DELETE" else route.continue_()
    )
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.uncheck("#step-denoise")
    page.check("#step-loudness")
    page.set_input_files("#file", str(two_minutes))
    page.click("#run")
    # (Cancel, enabled during the upload, would stop that: the job is cancelled once it exists)
    page.wait_for_function("/in progress|queued/.test(document.querySelector('#status').textContent)")
    page.click("#cancel")
    page.wait_for_selector("#error:not([hidden])")
    assert "Cancel failed" in page.inner_text("#error")  # said while the job runs on
    wait_for_result(page, timeout=60_000)
    assert "succeeded — 100 %" in page.inner_text("#status")
    assert page.is_hidden("#error")
    assert page.errors == []


def test_playground_regions_follow_the_cuts_on_the_result(page: Any, server: HushProcess, tmp_path: Path) -> None:
    """After long_silences took a pause out, the result's speech regions sit earlier by what was
    cut before them; the input's stay where the speech was."""
    rng = np.random.default_rng(18)
    sr = 16000
    a, _ = make_speech_like(rng, sr, 2.0, lead_silence_s=0.2)
    b, _ = make_speech_like(rng, sr, 2.0, lead_silence_s=0.2)
    x = np.concatenate([a, np.zeros(3 * sr), b]).astype(np.float32) + make_white(rng, a.size * 2 + 3 * sr, -70.0)
    path = tmp_path / "pause.wav"
    sf.write(path, x, sr, subtype="PCM_16")
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.uncheck("#step-denoise")
    page.check("#step-vad")
    page.check("#step-long_silences")
    page.set_input_files("#file", str(path))
    page.click("#run")
    wait_for_result(page)
    page.wait_for_selector("#before-wave[data-ready=true]")
    before = [float(t) for t in page.get_attribute("#before-wave", "data-region-starts").split()]
    after = [float(t) for t in page.get_attribute("#after-wave", "data-region-starts").split()]
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    with httpx.Client(base_url=server.url, headers=H) as client:
        steps = client.get(f"/api/v1/jobs/{job_id}").json()["result"]["steps"]
    removed = next(s for s in steps if s["step"] == "long_silences")["removed_s"]
    assert removed > 1.5
    assert len(before) == len(after) >= 2
    assert after[0] == before[0]  # nothing was cut before the first word
    assert after[-1] == pytest.approx(before[-1] - removed, abs=0.01)
    # A/B at the same moment of the recording, not the same clock time: past the cut, the result
    # is earlier by what was cut (the arrow seeks 5 s on A, then X switches to B)
    cut_start, cut_end = next(s for s in steps if s["step"] == "long_silences")["cuts"][0]
    page.focus("#play")
    page.keyboard.press("ArrowRight")
    a_s, b_s = _cursor_s(page, "before"), _cursor_s(page, "after")
    assert a_s == pytest.approx(5.0, abs=0.05)
    assert a_s > cut_end
    assert b_s == pytest.approx(a_s - (cut_end - cut_start), abs=0.05)
    page.keyboard.press("x")
    assert page.inner_text("#ab").startswith("Listening: B")
    page.keyboard.press("ArrowLeft")  # on B now: back 5 s of the result, and A follows through the cut
    b2, a2 = _cursor_s(page, "after"), _cursor_s(page, "before")
    assert b2 == pytest.approx(max(0.0, b_s - 5.0), abs=0.05)
    expected_a = b2 if b2 < cut_start else b2 + (cut_end - cut_start)
    assert a2 == pytest.approx(expected_a, abs=0.05)
    assert page.errors == []


def _cursor_s(page: Any, which: str) -> float:
    """Where a player's cursor stands, in seconds (its share of the drawn waveform × its duration)."""
    return float(
        page.evaluate(
            """(which) => {
                const host = document.querySelector(`#${which}-wave > div`);
                const root = host.shadowRoot;
                const cursor = root.querySelector('[part~=cursor]') || root.querySelector('.cursor');
                const wave = document.querySelector(`#${which}-wave`);
                return parseFloat(cursor.style.left) / 100 * parseFloat(wave.dataset.duration);
            }""",
            which,
        )
    )


def _job_posts(page: Any) -> list[dict[str, Any]]:
    """The bodies of the jobs the page submits, as they are sent."""
    posts: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: posts.append(r.post_data_json) if r.method == "POST" and r.url.endswith("/api/v1/jobs") else None,
    )
    return posts


def _open_with_file(page: Any, server: HushProcess, path: Path) -> list[dict[str, Any]]:
    """The page with its key entered, ``path`` chosen and no step ticked; the job bodies it will send."""
    posts = _job_posts(page)
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.set_input_files("#file", str(path))
    page.uncheck("#step-denoise")
    return posts


def test_playground_refuses_a_number_it_cannot_read_and_sends_loudness_last(
    page: Any, server: HushProcess, noisy_wav: Path
) -> None:
    posts = _open_with_file(page, server, noisy_wav)
    # Process is disabled, and the status says what is missing
    assert page.is_disabled("#run")
    assert page.inner_text("#run-hint") == "Choose at least one step."
    for step in ("loudness", "fillers", "long_silences"):
        page.check(f"#step-{step}")
    # "5e" is no number: the browser gives the page an empty value, which used to mean "the default"
    page.fill("#step-long_silences-max_pause_s", "")
    page.focus("#step-long_silences-max_pause_s")
    page.keyboard.type("5e")
    page.click("#run")
    error = page.inner_text("#error")
    assert "long_silences" in error
    assert "shorten pauses longer than" in error
    assert "from 0.2 to 60" in error
    assert page.evaluate("document.activeElement.id") == "step-long_silences-max_pause_s"
    page.fill("#step-long_silences-keep_pause_s", "70")  # over the server's bound of 60 s
    page.fill("#step-long_silences-max_pause_s", "2")
    page.click("#run")
    assert "keep of each" in page.inner_text("#error")
    assert posts == []  # nothing was sent while a field was wrong
    # a bound that depends on another field is the server's to check: its refusal names the
    # parameter by its API name, and the page says which field that is
    page.fill("#step-long_silences-keep_pause_s", "3")
    page.click("#run")
    page.wait_for_function("document.querySelector('#error').textContent.includes('keep_pause_s')")
    assert 'keep_pause_s (the field "keep of each' in page.inner_text("#error")
    assert page.evaluate("document.activeElement.id") == "step-long_silences-keep_pause_s"
    page.fill("#step-long_silences-keep_pause_s", "0.4")
    page.click("#run")
    wait_for_result(page)
    body = posts[-1]
    # the edits before loudness, which sets the level of what is left
    assert [s["name"] for s in body["steps"]] == ["long_silences", "fillers", "loudness"]
    assert body["steps"][0]["params"]["max_pause_s"] == 2
    assert body["steps"][0]["params"]["keep_pause_s"] == 0.4
    assert page.errors == []


def test_playground_takes_defaults_and_ranges_from_the_server(page: Any, server: HushProcess, noisy_wav: Path) -> None:
    """The page had its own defaults and ranges: denoise at amount 80 (the server's default is
    100), autoid's target_lufs given loudness's range, keep_pause_s capped at 1 s (audit)."""
    posts = _open_with_file(page, server, noisy_wav)
    with httpx.Client(base_url=server.url, headers=H) as client:
        steps = client.get("/api/v1/steps").json()
    checked = 0
    for s in steps:
        if not s["available"]:
            continue
        for name, spec in s["param_specs"].items():
            if spec["type"] != "number":
                continue
            field = f"#step-{s['name']}-{name}"
            got = page.eval_on_selector(field, "e => [e.min, e.max, e.value, e.placeholder]")
            assert float(got[0]) == spec["minimum"], (field, got, spec)
            assert float(got[1]) == spec["maximum"], (field, got, spec)
            shown = got[2] or got[3]  # (a field that starts empty shows the default as its placeholder)
            if spec.get("default") is not None:
                assert float(shown) == spec["default"], (field, got, spec)
            checked += 1
    assert checked >= 24
    assert page.input_value("#step-denoise-amount") == "100"
    assert page.get_attribute("#step-autoid-target_lufs", "min") == "-40"
    assert page.get_attribute("#step-long_silences-keep_pause_s", "max") == "60"
    assert page.get_attribute("#step-remove_echo-max_delay_ms", "min") == "30"
    # a refusal that names a field by its API name says which field it is, and goes to it
    page.check("#step-remove_echo")
    page.fill("#step-remove_echo-min_delay_ms", "400")
    page.fill("#step-remove_echo-max_delay_ms", "300")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    error = page.inner_text("#error")
    assert 'max_delay_ms (the field "longest echo delay searched' in error, error
    assert page.evaluate("document.activeElement.id") == "step-remove_echo-max_delay_ms"
    assert len(posts) == 1  # (refused by the server)
    assert page.errors == []


def test_playground_vad_sends_the_servers_default_and_space_on_the_download_link_plays(
    page: Any, server: HushProcess, noisy_wav: Path
) -> None:
    posts = _open_with_file(page, server, noisy_wav)
    page.check("#step-vad")
    page.click("#run")
    wait_for_result(page)
    page.wait_for_selector("#before-wave[data-ready=true]")
    (body,) = posts
    # the field is left empty: the server's default (0, every pause kept), as the API and CLI do
    assert "min_non_speech_s" not in (body["steps"][0].get("params") or {})
    page.focus("#download")
    y0 = page.evaluate("scrollY")
    page.keyboard.press(" ")
    assert page.inner_text("#play") == "Pause"  # Space plays, as the page's key hint says
    assert page.evaluate("scrollY") == y0  # and does not scroll the page
    assert page.errors == []


def test_playground_picks_a_running_job_up_again_after_a_reload(
    page: Any, server: HushProcess, ten_minutes: Path
) -> None:
    path = ten_minutes
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.uncheck("#step-denoise")
    page.check("#step-loudness")  # two passes over ten minutes: long enough to reload mid-job
    page.fill("#step-loudness-target_lufs", "-20")
    page.set_input_files("#file", str(path))
    page.click("#run")
    page.wait_for_function("/in progress|queued/.test(document.querySelector('#status').textContent)")
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    assert job_id
    page.reload()
    # the job is followed again: its state, its steps and its parameters, and Cancel reaches it
    page.wait_for_function("/in progress|queued/.test(document.querySelector('#status').textContent)")
    assert page.is_checked("#step-loudness")
    assert not page.is_checked("#step-denoise")
    assert page.input_value("#step-loudness-target_lufs") == "-20"
    page.wait_for_selector("#cancel:not([disabled])")
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('cancelled')")
    with httpx.Client(base_url=server.url, headers=H) as client:
        assert client.get(f"/api/v1/jobs/{job_id}").json()["state"] == "cancelled"
    # a link to a job this server does not have says so
    page.goto(f"{server.url}/playground?job=no-such-job")
    page.wait_for_selector("#error:not([hidden])")
    assert "not on this server" in page.inner_text("#error")
    assert page.errors == []


def test_playground_rides_out_a_lost_connection_and_shows_the_warnings(
    page: Any, server: HushProcess, tmp_path: Path
) -> None:
    rng = np.random.default_rng(20)
    sr = 16000
    speech, _ = make_speech_like(rng, sr, 6.0)
    whole = tmp_path / "whole.wav"
    sf.write(whole, speech.astype(np.float32), sr, subtype="PCM_16")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(whole.read_bytes()[: 44 + 2 * sr * 3])  # the header still says 6 s
    failed: list[str] = []

    def drop_twice(route: Any) -> None:  # the first event streams fail as a dropped network does
        if len(failed) < 2:
            failed.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/events", drop_twice)
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.evaluate(
        "window.seen = []; new MutationObserver(() => window.seen.push(document.querySelector('#status')"
        ".textContent)).observe(document.querySelector('#status'),"
        " {childList: true, characterData: true, subtree: true})"
    )
    page.set_input_files("#file", str(truncated))
    page.focus("#run")
    page.keyboard.press("Enter")
    wait_for_result(page, timeout=60_000)  # (the "before" is tried after the result)
    assert failed  # (the job may end before a second stream is opened)
    assert any("lost contact with the server" in s for s in page.evaluate("window.seen"))
    assert "succeeded — 100 %" in page.inner_text("#status")
    assert page.is_hidden("#error")
    # the server's warning about the input is on the page
    assert page.is_visible("#warnings")
    assert "truncated" in page.inner_text("#warnings")
    # keyboard users land on the result
    assert page.evaluate("document.activeElement.id") == "play"
    # the page's address names the job: opened again, it shows the result and the warning
    page.unroute("**/events")
    page.reload()
    wait_for_result(page)
    assert "truncated" in page.inner_text("#warnings")
    assert page.errors == []


def test_playground_without_a_before_offers_no_a_b_switch(page: Any, server: HushProcess, noisy_wav: Path) -> None:
    # the server keeps no copy of a fetched input: its "before" cannot load (here: made to fail)
    page.route("**/input", lambda route: route.fulfill(status=404, body="{}", content_type="application/json"))
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.set_input_files("#file", str(noisy_wav))
    page.click("#run")
    wait_for_result(page)
    # the "before" is the file this page sent; reloaded, the page asks the server for it
    page.reload()
    # the "before" is tried once the result plays: its failure is said a moment later
    wait_for_result(page)
    assert "not available" in page.inner_text("#before-note")
    assert page.is_disabled("#ab")
    assert page.inner_text("#ab").startswith("Listening: B (after)")
    assert page.evaluate("document.querySelector('#after-wave').classList.contains('active')")


def test_playground_report_reads_pairs_by_what_they_are(page: Any, server: HushProcess, noisy_wav: Path) -> None:
    """autoeq's curve is [Hz, dB] points: it read like time ranges, "315–-0.24" (audit)."""
    _open_with_file(page, server, noisy_wav)
    page.check("#step-vad")
    page.check("#step-autoeq")
    page.click("#run")
    wait_for_result(page)
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    with httpx.Client(base_url=server.url, headers=H) as client:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
    eq = next(s for s in job["result"]["steps"] if s["step"] == "autoeq")
    assert eq["curve"], eq
    row = page.locator("#report tbody tr", has=page.locator("th", has_text="autoeq")).inner_text()
    hz, db = eq["curve"][0]
    sign = "+" if round(db, 1) > 0 else "\u2212" if round(db, 1) < 0 else ""
    assert f"{hz:g} Hz: {sign}{abs(round(db, 1)):g} dB" in row, row
    assert "–" not in row.split("curve")[1].split("\n")[1], row  # not one range among them
    # the VAD's segments are time ranges, and still read as such
    start, end = job["result"]["segments"][0]
    vad = page.locator("#report tbody tr", has=page.locator("th", has_text="vad")).inner_text()
    assert f"{round(start, 2):g}–{round(end, 2):g}" in vad, vad
    assert page.errors == []


def test_playground_drop_zone_opens_the_picker_on_a_click(page: Any, server: HushProcess, noisy_wav: Path) -> None:
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.bring_to_front()
    with page.expect_file_chooser() as chooser:
        page.click("#drop-help")
    chooser.value.set_files(str(noisy_wav))
    assert "noisy speech.wav" in page.inner_text("#file-name")
    # a URL replaces the file, in the page and in the picker alike
    page.fill("#url", "https://example.invalid/noisy.wav")
    assert page.inner_text("#file-name") == ""
    assert page.evaluate("document.querySelector('#file').files.length") == 0


def test_playground_report_reads_on_a_phone(browser: Any, server: HushProcess, noisy_wav: Path) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{server.url}/")
    enter_key(page)
    page.check("#step-loudness")
    page.set_input_files("#file", str(noisy_wav))
    page.click("#run")
    page.wait_for_selector("#report-box:not([hidden])")
    wait_for_result(page)
    widths = page.evaluate("[...document.querySelectorAll('#report tbody td:last-child')].map((td) => td.clientWidth)")
    assert widths
    assert min(widths) > 250, widths  # the details get the screen's width, not a sliver of it
    values = page.evaluate(
        "[...document.querySelectorAll('#report td:last-child > dl > dd')].map((d) => d.clientWidth)"
    )
    assert values
    assert min(values) > 150, values  # numbers are not broken a character a line
    # nested values are lists, not JSON text
    assert "{" not in page.inner_text("#report")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()


def test_playground_sends_a_file_once_for_several_jobs(page: Any, server: HushProcess, noisy_wav: Path) -> None:
    """Each Process uploaded the file again, even after a refused job, and left the copies on the server."""
    uploads: list[str] = []
    page.on(
        "request", lambda r: uploads.append(r.url) if r.method == "POST" and r.url.endswith("/api/v1/files") else None
    )
    posts = _open_with_file(page, server, noisy_wav)
    page.check("#step-vad")
    page.click("#run")
    wait_for_result(page)
    page.uncheck("#step-vad")
    page.check("#step-loudness")
    page.click("#run")  # (which sets the players' data-ready back to false at once)
    wait_for_result(page)
    assert len(posts) == 2
    assert posts[0]["input"]["file_id"] == posts[1]["input"]["file_id"]
    assert len(uploads) == 1
    assert page.errors == []


@pytest.fixture
def served_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback (a URL input), and its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_playground_names_a_url_inputs_result_and_asks_no_before_of_it(
    page: Any, server: HushProcess, noisy_wav: Path, served_dir: tuple[Path, str]
) -> None:
    """The server keeps no copy of a fetched input: the page asked for it anyway (a 409 the browser
    logged as an error each time); the result was named hush_<job id> (audit)."""
    folder, base = served_dir
    (folder / "interview take 2.wav").write_bytes(noisy_wav.read_bytes())
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/input") else None)
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.fill("#url", f"{base}/interview%20take%202.wav")
    page.click("#run")
    wait_for_result(page)
    assert "succeeded" in page.inner_text("#status")
    assert page.get_attribute("#download", "download") == "interview take 2_hush.wav"
    assert "keeps no copy" in page.inner_text("#before-note")
    assert page.is_disabled("#ab")
    # reloaded, the page still knows where the input came from
    page.reload()
    wait_for_result(page)
    assert page.get_attribute("#download", "download") == "interview take 2_hush.wav"
    assert asked == []
    assert page.errors == []


def test_playground_says_where_the_api_key_goes(page: Any, server: HushProcess) -> None:
    """A 401 said "send it as Authorization: Bearer KEY or in the x-api-key header": advice for an
    API client, not for the page, which has a field for it (audit)."""
    page.goto(f"{server.url}/playground")
    page.wait_for_selector("#key-box[open]")
    error = page.inner_text("#error")
    assert 'enter it in the "API key" field' in error, error
    assert "x-api-key" not in error
    page.fill("#key", "not-the-key")
    page.dispatch_event("#key", "change")
    page.wait_for_function("document.querySelector('#error').textContent.includes('not valid')")
    assert 'correct it in the "API key" field' in page.inner_text("#error")
    page.fill("#key", KEY)
    page.dispatch_event("#key", "change")
    page.wait_for_selector("#step-denoise:not([disabled])")
    assert page.is_hidden("#error")


def _watch_status(page: Any) -> None:
    """Every text the status and the bar show, in ``window.seen`` (as "text | bar value")."""
    page.evaluate(
        "window.seen = []; new MutationObserver(() => window.seen.push(document.querySelector('#status')"
        ".textContent + ' | ' + document.querySelector('#progress').value)).observe("
        "document.querySelector('#status'), {childList: true, characterData: true, subtree: true})"
    )


def _run_watching_status(page: Any, server: HushProcess, audio: Path, steps: tuple[str, ...]) -> list[str]:
    """Open ``audio``, tick ``steps``, run the job and return every status text seen on the way."""
    _open_with_file(page, server, audio)
    for step in steps:
        page.check(f"#step-{step}")
    _watch_status(page)
    page.click("#run")
    wait_for_result(page, timeout=60_000)
    return list(page.evaluate("window.seen"))


def test_playground_shows_the_uploads_progress(page: Any, server: HushProcess, two_minutes: Path) -> None:
    """The bar sat at 0 while a file went up (fetch says nothing of a body's progress): over a slow
    link a large upload looked frozen (audit)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # about 1.9 MB at 2 MB/s: a second of upload, seen in steps
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2_000_000},
    )
    seen = _run_watching_status(page, server, two_minutes, ("vad",))
    uploading = [s for s in seen if s.startswith("uploading")]
    assert uploading, seen
    assert all(re.fullmatch(r"uploading \d+ % of 1\.8 MiB \| \d+", s) for s in uploading), uploading
    assert any(s.startswith("uploading 100 %") for s in uploading), uploading
    # the way there, not only its end: the bar moves with the per cent
    assert any(re.fullmatch(r"uploading ([1-9]\d) % of 1\.8 MiB \| \1", s) for s in uploading), uploading
    # said before the job's own progress, which starts again from 0
    first_job = next(i for i, s in enumerate(seen) if not s.startswith("uploading"))
    assert all(not s.startswith("uploading") for s in seen[first_job:]), seen
    assert page.get_attribute("#progress", "aria-label") == "progress"
    assert page.errors == []


def test_playground_refuses_a_file_over_the_servers_limit_before_sending_it(
    page: Any, server: HushProcess, noisy_wav: Path, two_minutes: Path
) -> None:
    """A file over HUSH_MAX_INPUT_MB was refused (413) only once all of it had gone up, and a
    failed attempt cleared the previous result from the page first (audit)."""
    with httpx.Client(base_url=server.url, headers=H) as client:
        limit = int(client.get("/api/v1/steps").headers["hush-max-input-bytes"])
    assert limit == 500 * 1024 * 1024  # the default HUSH_MAX_INPUT_MB

    def small_limit(route: Any) -> None:  # as a server started with a limit between the two files
        res = route.fetch()
        route.fulfill(response=res, headers={**res.headers, "hush-max-input-bytes": "1000000"})

    page.route("**/api/v1/steps", small_limit)
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" and r.url.endswith("/files") else None)
    _open_with_file(page, server, noisy_wav)
    page.check("#step-vad")
    page.click("#run")
    wait_for_result(page)
    assert len(uploads) == 1
    page.set_input_files("#file", str(two_minutes))
    assert "over this server's 1.0 MiB limit" in page.inner_text("#file-name")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    error = page.inner_text("#error")
    for said in ("two minutes.wav", "up to 1.0 MiB", "HUSH_MAX_INPUT_MB"):
        assert said in error, error
    assert len(uploads) == 1  # nothing was sent
    # the result of the job before is still there, players and report
    assert page.is_visible("#compare")
    assert page.is_visible("#report-box")
    assert page.get_attribute("#after-wave", "data-ready") == "true"
    assert page.is_enabled("#run")
    assert page.errors == []


def test_playground_names_the_steps_running(page: Any, server: HushProcess, two_minutes: Path) -> None:
    """With 10+ steps ticked the progress never said which was running (audit): the status names
    the steps of the pass the server runs now."""
    seen = _run_watching_status(page, server, two_minutes, ("dehum", "loudness"))
    running = [s for s in seen if s.startswith("in progress — ")]
    stages = {re.sub(r" — \d+ % \| \d+$", "", s) for s in running}
    assert "in progress — dehum, loudness" in stages, seen
    assert "in progress — loudness" in stages, seen
    assert "succeeded — 100 %" in page.inner_text("#status")
    assert page.errors == []


def test_playground_report_shows_every_vad_segment(page: Any, server: HushProcess, tmp_path: Path) -> None:
    """The report listed the first 20 segments, "… and N more", with no way to see or copy the
    rest (audit): all of them are behind "show all N", with a button that copies them as JSON."""
    rng = np.random.default_rng(21)
    speech, _ = make_speech_like(rng, 16000, 60.0)
    path = tmp_path / "a minute of words.wav"
    sf.write(path, speech.astype(np.float32), 16000, subtype="PCM_16")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    _open_with_file(page, server, path)
    page.check("#step-vad")
    page.click("#run")
    wait_for_result(page)
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    with httpx.Client(base_url=server.url, headers=H) as client:
        segments = client.get(f"/api/v1/jobs/{job_id}").json()["result"]["segments"]
    assert len(segments) > 20, segments
    row = page.locator("#report tbody tr", has=page.locator("th", has_text="vad"))
    assert f"… and {len(segments) - 20} more" in row.inner_text()
    everything = row.locator("details.all")
    assert everything.locator("summary").inner_text() == f"show all {len(segments)}"
    assert not everything.locator(".all-items").is_visible()  # folded until asked for
    everything.locator("summary").click()
    listed = everything.locator(".all-items").inner_text()
    start, end = segments[-1]  # the last one, which the first 20 did not show
    assert f"{round(start, 2):g}–{round(end, 2):g}" in listed, listed
    assert listed.count("–") == len(segments)
    everything.get_by_role("button", name="Copy all as JSON").click()
    page.wait_for_function("document.querySelector('details.all button.copy').textContent === 'Copied as JSON'")
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == segments
    assert page.errors == []


def test_playground_shows_a_steps_parameters_only_while_it_is_ticked(browser: Any, server: HushProcess) -> None:
    """On a phone all 15 steps showed their fields, ticked or not: Process sat about five screens
    below the picker; and every number field had an empty <output> (26 "status" nodes) (audit)."""
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/")
    enter_key(page)
    # only denoise is ticked: only its fields show
    shown = page.eval_on_selector_all(".params", "ps => ps.filter((p) => !p.hidden).map((p) => p.id)")
    assert shown == ["step-denoise-params"], shown
    assert page.is_visible("#step-denoise-amount")
    assert page.is_hidden("#step-loudness-target_lufs")
    run_y = page.evaluate("document.querySelector('#run').getBoundingClientRect().top + scrollY")
    # Process moved up from 5.5 screens down (the steps' descriptions are most of what is left)
    assert run_y < 3.5 * 740, run_y
    # the checkbox says its fields are shown, and which they are
    assert page.get_attribute("#step-denoise", "aria-expanded") == "true"
    assert page.get_attribute("#step-loudness", "aria-expanded") == "false"
    assert page.get_attribute("#step-loudness", "aria-controls") == "step-loudness-params"
    # ticked by keyboard, its fields appear; unticked, they go
    page.focus("#step-loudness")
    page.keyboard.press("Space")
    assert page.is_visible("#step-loudness-target_lufs")
    assert page.get_attribute("#step-loudness", "aria-expanded") == "true"
    page.keyboard.press("Space")
    assert page.is_hidden("#step-loudness-target_lufs")
    # no status node among the fields: the slider's value is text for the eye, the slider says it
    assert page.eval_on_selector_all("#steps output, #steps [role=status]", "es => es.length") == 0
    assert page.inner_text("#step-denoise-params").count("100") >= 1  # amount's value beside its slider
    page.fill("#step-denoise-amount", "40")
    assert "\n40\n" in page.inner_text("#step-denoise-params")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == []
    context.close()


def _slow_upload(page: Any, bytes_per_s: int) -> Any:
    """Uploads from ``page`` go up at ``bytes_per_s`` (a slow uplink; -1: full speed again),
    downloads at full speed; the CDP session, to change it."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_s},
    )
    return cdp


def test_playground_names_the_result_after_the_file_sent_not_one_picked_during_the_upload(
    page: Any, server: HushProcess, noisy_wav: Path, two_minutes: Path
) -> None:
    """A file picked while another went up gave its name to the result of the first: the two
    minutes downloaded as "noisy speech_hush.wav" (audit)."""
    _slow_upload(page, 400_000)  # about 5 s for the 1.9 MB
    _open_with_file(page, server, two_minutes)
    page.check("#step-vad")
    page.click("#run")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('uploading')")
    page.set_input_files("#file", str(noisy_wav))  # picked while the two minutes go up
    assert "noisy speech.wav" in page.inner_text("#file-name")
    wait_for_result(page, timeout=60_000)
    assert page.get_attribute("#download", "download") == "two minutes_hush.wav"
    assert page.inner_text("#clock").endswith("of 2:00.0")  # (the job ran on the file sent)
    page.reload()  # the name kept for the job is the one sent, too
    wait_for_result(page)
    assert page.get_attribute("#download", "download") == "two minutes_hush.wav"
    assert page.errors == []


def test_playground_cancels_an_upload(page: Any, server: HushProcess, two_minutes: Path) -> None:
    """Cancel was disabled for the whole upload (the page kept no handle on it): a wrong file on a
    slow uplink had to go up to its end, or the page be reloaded (audit)."""
    cdp = _slow_upload(page, 100_000)  # about 20 s for the 1.9 MB
    posts = _open_with_file(page, server, two_minutes)
    page.check("#step-vad")
    page.click("#run")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('uploading')")
    assert page.is_enabled("#cancel")
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('upload cancelled')")
    assert page.evaluate("document.querySelector('#progress').value") == 0
    assert page.inner_text("#status-live") == "upload cancelled"
    assert page.is_disabled("#cancel")
    assert page.is_enabled("#run")  # ready to run again
    assert page.evaluate("document.activeElement.id") == "run"
    assert page.is_hidden("#error")
    assert page.is_hidden("#compare")
    assert posts == []  # no job was asked for
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.click("#run")  # and it runs: the file goes up again, whole
    wait_for_result(page, timeout=60_000)
    assert len(posts) == 1
    assert "succeeded — 100 %" in page.inner_text("#status")
    assert page.errors == []


def test_playground_says_a_job_was_refused_and_clears_the_bar(
    page: Any, server: HushProcess, noisy_wav: Path, tmp_path: Path
) -> None:
    """A refused job read "stopped" beside a full bar, and the live region still said "uploading
    100 %" (audit): the status says it was refused and why, the bar is back at 0."""
    posts = _open_with_file(page, server, noisy_wav)
    page.check("#step-remove_echo")
    page.fill("#step-remove_echo-min_delay_ms", "400")
    page.fill("#step-remove_echo-max_delay_ms", "300")  # under the minimum: the server refuses it
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert len(posts) == 1
    status = page.inner_text("#status")
    assert status.startswith("job refused — "), status
    assert 'max_delay_ms (the field "longest echo delay searched' in status, status
    assert page.evaluate("document.querySelector('#progress').value") == 0
    assert page.inner_text("#status-live") == "job refused"
    assert page.evaluate("document.activeElement.id") == "step-remove_echo-max_delay_ms"
    assert page.is_enabled("#run")
    # a file that is no audio: refused at its upload
    notes = tmp_path / "notes.wav"
    notes.write_bytes(np.random.default_rng(22).bytes(50_000))
    page.uncheck("#step-remove_echo")
    page.check("#step-vad")
    page.set_input_files("#file", str(notes))
    page.click("#run")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('job refused')")
    assert page.evaluate("document.querySelector('#progress').value") == 0
    assert page.inner_text("#status-live") == "job refused"
    assert page.inner_text("#error") in page.inner_text("#status")
    assert len(posts) == 1  # (refused before a job was asked for)
    assert page.errors == []


def _hold(page: Any, pattern: str | re.Pattern[str]) -> list[Any]:
    """Requests to ``pattern`` wait (as over a slow link) until the test lets them go
    (``_let_go``); the list of those waiting."""
    held: list[Any] = []

    def hold(route: Any) -> None:
        if held and held[0] == "go":
            route.continue_()
        else:
            held.append(route)

    page.route(pattern, hold)
    return held


def _let_go(held: list[Any]) -> None:
    """The held requests go on, and those that come after do not wait."""
    waiting = list(held)
    held[:] = ["go"]
    for route in waiting:
        route.continue_()


def test_playground_download_is_the_result_while_it_loads(page: Any, server: HushProcess, noisy_wav: Path) -> None:
    """Until the result had been fetched for its player, "Download result" was href="#": a click
    saved the page itself, as download.html (audit)."""
    _open_with_file(page, server, noisy_wav)
    page.check("#step-vad")
    held = _hold(page, "**/result")
    page.click("#run")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('succeeded')")
    page.wait_for_selector("#compare:not([hidden])")
    job_id = page.evaluate("new URLSearchParams(location.search).get('job')")
    assert page.get_attribute("#download", "href") == f"/api/v1/jobs/{job_id}/result"
    assert page.get_attribute("#after-wave", "data-ready") == "false"  # (the result is still on its way)
    with page.expect_download() as info:
        page.click("#download")
        assert page.inner_text("#download") == "Download result (loading…)"
        _let_go(held)
    assert info.value.suggested_filename == "noisy speech_hush.wav"
    with httpx.Client(base_url=server.url, headers=H) as client:
        assert Path(info.value.path()).read_bytes() == client.get(f"/api/v1/jobs/{job_id}/result").content
    wait_for_result(page)
    assert page.inner_text("#download") == "Download result"
    assert page.get_attribute("#download", "href").startswith("blob:")  # saved from memory from now on
    assert page.errors == []


def test_playground_says_its_players_are_loading_and_plays_the_users_own_file(
    page: Any, server: HushProcess, noisy_wav: Path
) -> None:
    """After "succeeded" the page fetched the whole result, then fetched back the input the user
    had just sent, with empty players and no word of it; Play pressed meanwhile did nothing (audit)."""
    inputs: list[str] = []
    page.on("request", lambda r: inputs.append(r.url) if r.url.endswith("/input") else None)
    _open_with_file(page, server, noisy_wav)
    page.check("#step-vad")
    held = _hold(page, "**/result")
    page.click("#run")
    page.wait_for_selector("#compare:not([hidden])")
    assert page.inner_text("#after-note").startswith("(loading the result…")
    # the "before" is the file the user picked: there at once, while the result is on its way
    page.wait_for_selector("#before-wave[data-ready=true]")
    assert page.inner_text("#before-note") == ""
    assert page.get_attribute("#after-wave", "data-ready") == "false"
    _let_go(held)
    wait_for_result(page)
    assert page.inner_text("#after-note") == ""
    assert inputs == []  # never fetched back
    # reloaded, the page has no file: both come from the server, and Play waits for them
    results, inputs_held = _hold(page, "**/result"), _hold(page, "**/input")
    page.reload()
    page.wait_for_selector("#compare:not([hidden])")
    assert page.inner_text("#after-note").startswith("(loading the result…")
    page.click("#play")
    assert page.inner_text("#play") == "Play (starts once loaded)"
    assert page.inner_text("#status-live") == "still loading: plays once loaded"
    _let_go(results)
    page.wait_for_selector("#after-wave[data-ready=true]")
    # the input comes next: the press waits for A, the take listened to
    page.wait_for_function("document.querySelector('#before-note').textContent.startsWith('(loading the input…')")
    assert page.inner_text("#play") == "Play (starts once loaded)"
    _let_go(inputs_held)
    wait_for_result(page)
    page.wait_for_selector("#before-wave[data-ready=true]")
    assert page.inner_text("#play") == "Pause"  # the press was kept: it plays
    page.wait_for_function("/^A at 0:0[1-9]/.test(document.querySelector('#clock').textContent)")
    assert len(inputs) == 1
    assert page.errors == []


def test_playground_streams_a_long_result_from_a_server_without_keys(browser: Any, tmp_path: Path) -> None:
    """Over ten minutes (drawn from the server's peaks) the page still fetched the whole result
    before its player worked, and the input back too: the <audio> streams the result instead,
    asking by Range (an open server: the element sends no key header), and plays the user's file."""
    rng = np.random.default_rng(23)
    path = tmp_path / "eleven minutes.wav"
    with sf.SoundFile(str(path), "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        for _ in range(11):
            f.write(make_white(rng, 8000 * 60, -30.0))
    with HushProcess(tmp_path / "hush", workers=1) as open_server:  # (no keys: loopback only)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        asked: list[tuple[str, str | None]] = []
        page.on(
            "request",
            lambda r: asked.append((r.url, r.headers.get("range"))) if r.url.endswith(("/result", "/input")) else None,
        )
        page.goto(f"{open_server.url}/playground")
        page.wait_for_selector("#step-vad:not([disabled])")
        page.set_input_files("#file", str(path))
        page.uncheck("#step-denoise")
        page.check("#step-vad")
        page.click("#run")
        wait_for_result(page, timeout=120_000)
        page.wait_for_selector("#before-wave[data-ready=true]")
        assert "server-side peaks" in page.inner_text("#after-note")
        assert page.get_attribute("#download", "href").endswith("/result")  # (not fetched for the player)
        page.click("#ab")  # B, the result
        page.click("#play")
        page.wait_for_function("/^B at 0:0[1-9]/.test(document.querySelector('#clock').textContent)")
        results = [rng for url, rng in asked if url.endswith("/result")]
        assert results, asked
        assert all(r is not None and r.startswith("bytes=") for r in results), asked  # the element's, by Range
        assert not any(url.endswith("/input") for url, _ in asked), asked  # the user's own file plays
        assert errors == []
        context.close()


def test_playground_reads_a_decimal_comma_as_the_point_it_means(
    page: Any, server: HushProcess, noisy_wav: Path
) -> None:
    """Typed into a number field, "1,5" was sent as 15 (the browser drops the comma), within the
    field's range, with no word of it (audit)."""
    posts = _open_with_file(page, server, noisy_wav)
    page.check("#step-compress")
    page.check("#step-loudness")
    page.fill("#step-compress-makeup_db", "")
    page.focus("#step-compress-makeup_db")
    page.keyboard.type("1,5")
    assert page.input_value("#step-compress-makeup_db") == "1.5"
    page.fill("#step-loudness-target_lufs", "")
    page.focus("#step-loudness-target_lufs")
    page.keyboard.insert_text("-16,5")  # (as pasted)
    assert page.input_value("#step-loudness-target_lufs") == "-16.5"
    page.click("#run")
    wait_for_result(page)
    params = {s["name"]: s["params"] for s in posts[-1]["steps"]}
    assert params["compress"]["makeup_db"] == 1.5
    assert params["loudness"]["target_lufs"] == -16.5
    assert page.errors == []
