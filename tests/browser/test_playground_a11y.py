"""The playground for a screen-reader user and a low-vision keyboard user (an accessibility audit
with axe-core and Chromium's accessibility tree): what it found, held in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests._hush import HushProcess
from tests.browser.test_playground import enter_key, noisy_wav, page, server, wait_for_result  # noqa: F401 - fixtures


def _luminance(rgb: tuple[int, int, int]) -> float:
    def lin(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(float(v)) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return r, g, b


def test_focus_is_visible_and_lands_on_the_error_after_a_failure(page: Any, server: HushProcess) -> None:  # noqa: F811
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.focus("#url")
    page.keyboard.press("Tab")  # focus-visible comes from the keyboard
    focused = page.evaluate("document.activeElement.id")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert _contrast(_rgb(outline), (255, 255, 255)) >= 3.0, (focused, outline)  # was #f0b400, 1.87:1
    # a refused URL: the job is refused at once, and the focus goes to the message, not to <body>
    page.fill("#url", "http://127.0.0.1:9/nothing.wav")
    page.focus("#run")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "error"


def test_one_control_to_choose_a_file_and_named_groups_of_parameters(page: Any, server: HushProcess) -> None:  # noqa: F811
    page.goto(f"{server.url}/playground")
    enter_key(page)
    # the drop zone is the control: the file input inside it is no second tab stop (axe nested-interactive)
    assert page.get_attribute("#file", "tabindex") == "-1"
    assert page.get_attribute("#drop", "aria-label") == "Choose an audio or video file"
    groups = page.eval_on_selector_all(".params[role=group]", "gs => gs.map(g => g.getAttribute('aria-label'))")
    assert "denoise parameters" in groups
    assert "vad parameters" in groups  # two "engine" fields, each in its step's group


def test_the_result_reads_as_text_on_a_phone(browser: Any, server: HushProcess, noisy_wav: Path) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 375, "height": 800})
    p = context.new_page()
    p.set_default_timeout(30_000)
    try:
        p.goto(f"{server.url}/playground")
        enter_key(p)
        p.set_input_files("#file", str(noisy_wav))
        p.check("#step-vad")
        seen: list[str] = []
        p.expose_function("seen", lambda t: seen.append(t))
        p.evaluate(
            "new MutationObserver(() => window.seen(document.querySelector('#status-live').textContent))"
            ".observe(document.querySelector('#status-live'), {childList: true, characterData: true, subtree: true})"
        )
        p.click("#run")
        wait_for_result(p)
        # the announced status: the states and quarters, not every event
        assert any(t.startswith("succeeded") for t in seen)
        assert len(seen) <= 8, seen
        # the speech segments as text in the report, not only drawn
        report = p.inner_text("#report")
        assert "in seconds (also drawn on the waveforms)" in report
        # nested report values keep a readable width on a phone (they were 4 px wide)
        widths = p.eval_on_selector_all("#report td dd dl dd", "ds => ds.map(d => d.getBoundingClientRect().width)")
        assert widths
        assert min(widths) > 60, widths
        # the waveform canvases are hidden from screen readers; their content is in the report
        assert p.get_attribute("#after-wave", "aria-hidden") == "true"
    finally:
        context.close()


def test_the_players_position_is_text_and_said_after_a_seek(page: Any, server: HushProcess, noisy_wav: Path) -> None:  # noqa: F811
    """A seek or a switch changed only the canvases' cursor: nothing a screen reader could read."""
    page.goto(f"{server.url}/playground")
    enter_key(page)
    page.set_input_files("#file", str(noisy_wav))
    page.click("#run")
    wait_for_result(page)
    page.wait_for_selector("#before-wave[data-ready=true]")
    assert page.inner_text("#clock").startswith("A at 0:00.0 of 0:0")
    page.focus("#play")
    page.keyboard.press("ArrowRight")  # 5 s on, past the 4 s recording's end: at its end
    clock = page.inner_text("#clock")
    assert clock.startswith("A at 0:04.0 of 0:04.0"), clock
    assert page.inner_text("#status-live") == clock
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#clock").startswith("A at 0:00.0 of ")
    page.keyboard.press("x")
    assert page.inner_text("#clock").startswith("B at 0:00.0 of ")
    assert page.inner_text("#status-live").startswith("B at 0:00.0")
