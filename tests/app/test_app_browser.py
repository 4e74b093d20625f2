"""The app in a real browser: Playwright driving Debian's Chromium (NOTES §7), never skipped.

Upload a corpus, train, see the loss plot drawn (an SVG with a line in it) and a sample, stop,
generate, look inside the model as it reads, and save screenshots under the test's temporary directory.
"""

from __future__ import annotations

import math
import re
import shutil
import time

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from playwright.sync_api import Page, expect, sync_playwright

import app
from rnn_demo import session, summary
from tests.app.conftest import SMALL, settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def open_page() -> Page:
    """``open_page(url) -> Page``: a 1400 × 1000 Chromium tab on ``url``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)

        def open_at(url: str) -> Page:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(url)
            return page

        yield open_at
        browser.close()


@pytest.fixture
def page(open_page, app_url) -> Page:
    return open_page(app_url)


def set_number(page: Page, label: str, value: float) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")


def test_upload_train_watch_stop_generate(page: Page, corpus_file, tmp_path):
    expect(page.get_by_text("Upload a text and train")).to_be_visible()
    expect(page.get_by_text("served from", exact=False)).to_be_visible()  # the default model loaded

    # ① Upload: the summary appears at once.
    page.locator("input[type=file]").set_input_files(str(corpus_file))
    expect(page.get_by_text("held out to measure progress")).to_be_visible()
    expect(page.get_by_text("english.txt").first).to_be_visible()

    # A small model and a long budget: the test stops it.
    set_number(page, "number input for Time budget (seconds)", 60)
    page.get_by_text("Advanced: model size and optimizer").click()
    set_number(page, "Hidden size", SMALL["hidden_size"])
    set_number(page, "Embedding size", SMALL["embedding_size"])
    set_number(page, "Batch size", SMALL["batch_size"])
    set_number(page, "Window (tokens)", SMALL["seq_len"])
    # Dropout starts at -1, automatic: chosen for the text (60 kB, read ~100 times a minute by this small model).
    chosen = page.get_by_text("so training uses dropout 0.3", exact=False)
    expect(chosen).to_be_visible()
    expect(page.get_by_label("Dropout", exact=True)).to_have_value("-1")
    set_number(page, "Dropout", 0)  # set: kept, and only suggested
    expect(page.get_by_text("Dropout 0.3 (under Advanced) holds that off", exact=False)).to_be_visible()
    set_number(page, "Dropout", -1)
    expect(chosen).to_be_visible()
    page.get_by_text("Advanced: model size and optimizer").click()
    page.screenshot(path=tmp_path / "1-uploaded.png", full_page=True)

    # Train: the loss curve is drawn (a line in the plot's SVG), the status moves, samples appear.
    page.get_by_role("button", name=re.compile("Train")).click()
    line = page.locator(".vega-embed svg g.mark-line path").first
    expect(line).to_be_attached(timeout=60_000)
    samples = page.locator(".samples textarea")
    expect(samples).to_have_value(re.compile("validation loss"), timeout=60_000)
    expect(page.get_by_text(re.compile(r"Step [\d,]+"))).to_be_visible()
    expect(page.get_by_text("dropout 0.3, chosen as this budget reads the text many times over", exact=False)).to_be_visible()
    time.sleep(1.5)  # one more validation's worth of curve for the screenshot
    assert line.get_attribute("d").count("L") >= 2, "the loss line should join several points"
    assert line.get_attribute("stroke"), "the line should be drawn in its series' colour"
    page.screenshot(path=tmp_path / "2-training.png", full_page=True)

    # Stop: training ends and the model is kept, selected for generation, downloadable.
    page.get_by_role("button", name=re.compile("Stop")).click()
    expect(page.get_by_text("Stopped", exact=False)).to_be_visible(timeout=15_000)
    expect(page.get_by_role("button", name=re.compile("Download"))).to_be_visible()
    expect(page.get_by_label("Model", exact=True)).to_have_value(re.compile("My model"))
    # Both curves end where the run stopped: the stop's validation is a point of the validation line.
    expect(page.locator(".vega-embed svg g.mark-line path[d*='L']")).to_have_count(2)
    expect(page.get_by_text(f"this session", exact=False).first).to_be_visible()

    # ② Generate from the model just trained: the text streams into the box.
    page.get_by_label("Prompt (the model continues it)").fill("The dog")
    page.get_by_role("button", name=re.compile("Generate")).click()
    output = page.locator(".generated textarea")
    expect(output).to_have_value(re.compile(r"^The dog[\s\S]{100,}"), timeout=30_000)
    expect(page.get_by_text("seed", exact=False).last).to_be_visible()
    page.screenshot(path=tmp_path / "3-generated.png", full_page=True)

    # ③ Look inside: the model reads what it wrote, each character coloured by its surprise, laid out as
    # the text (no gaps between characters, lines broken where the text breaks them).
    page.get_by_role("button", name="Read it").click()
    expect(page.get_by_text("its loss on this text", exact=False)).to_be_visible()
    tokens = page.locator(".reading .text")
    written = output.input_value()
    expect(tokens).to_have_count(min(len(written), 1000))
    first, second = tokens.nth(0).bounding_box(), tokens.nth(1).bounding_box()
    assert abs(second["x"] - (first["x"] + first["width"])) <= 1 and second["y"] == first["y"], (first, second)
    after_break = tokens.nth(written.index("\n") + 1).bounding_box()
    assert after_break["x"] == first["x"] and after_break["y"] > first["y"], "a line break should start a new line"
    painted = tokens.evaluate_all("ts => ts.filter(t => getComputedStyle(t).backgroundColor !== 'rgba(0, 0, 0, 0)').length")
    assert painted > len(written) / 4, f"only {painted} characters are coloured"
    signal = page.get_by_label("Colour each token by")
    signal.click()
    page.get_by_role("option", name="forget gate f").click()
    expect(page.get_by_text("how much of its memory cell a unit keeps", exact=False)).to_be_visible()
    tokens.nth(3).click()
    expect(page.get_by_text(re.compile(r"Token 4, .* chance .* It expected: "))).to_be_visible()
    page.screenshot(path=tmp_path / "4-look-inside.png", full_page=True)
    # A line longer than the box wraps after a space, never inside a word (Chrome wrapped at any token).
    page.get_by_label("Text to read").fill("The old man sees the green tree and a quiet road. " * 6)
    page.get_by_role("button", name="Read it").click()
    expect(page.get_by_text("read 300 tokens", exact=False)).to_be_visible()
    lines = tokens.evaluate_all("ts => { const out = {}; for (const t of ts) { const y = Math.round(t.getBoundingClientRect().top); out[y] = (out[y] || '') + t.textContent; } return Object.values(out); }")
    assert len(lines) >= 3 and all(line.endswith(" ") for line in lines[:-1]), lines
    # Another model chosen: ③ starts afresh (the colours shown were the last model's).
    signal.click()
    page.get_by_role("option", name="cell").first.click()
    expect(page.get_by_text("what a unit holds", exact=False)).to_be_visible()
    model = page.get_by_label("Model", exact=True)
    model.click()
    page.get_by_role("option", name="tiny-gru").click()
    expect(tokens).to_have_count(0)
    expect(signal).to_have_value("surprise")
    expect(page.get_by_text("what a unit holds", exact=False)).to_have_count(0)
    for name in ("1-uploaded.png", "2-training.png", "3-generated.png", "4-look-inside.png"):
        assert (tmp_path / name).stat().st_size > 10_000

    # Closing the tab stops a training run and frees the session's model.
    page.get_by_role("button", name=re.compile("Train")).click()
    expect(page.get_by_text(re.compile(r"Step [\d,]+ ·"))).to_be_visible()
    assert session.training_sessions() >= 1
    held = session.live_sessions()
    page.close()
    deadline = time.monotonic() + 10
    while (session.training_sessions() or session.live_sessions() >= held) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session.training_sessions() == 0, "closing the tab should stop its training"
    assert session.live_sessions() < held, "closing the tab should free its model"


def test_failed_run_gives_the_buttons_back(page: Page):
    """A run that fails says why and leaves Train enabled and Stop disabled (gradio runs ``.then``
    only after success, so the reset must also hang on ``.failure``)."""
    train_btn = page.get_by_role("button", name=re.compile("Train"))
    stop_btn = page.get_by_role("button", name=re.compile("Stop"))
    expect(stop_btn).to_be_disabled()
    train_btn.click()  # no corpus uploaded
    expect(page.get_by_text("upload a corpus first", exact=False).first).to_be_visible()
    expect(train_btn).to_be_enabled()
    expect(stop_btn).to_be_disabled()


def test_the_language_field_appears_at_once_while_the_summary_is_recomputed(page: Page, corpus_file, monkeypatch):
    """Picking word tokens shows the Language field at once. Registered after the summary's listeners,
    its event went out only once the summary had been recomputed: 3.4 s for a 2.6 MB upload."""
    recompute = summary.summarize_corpus

    def slow_summary(*args, **kwargs):
        time.sleep(4)
        return recompute(*args, **kwargs)

    page.locator("input[type=file]").set_input_files(str(corpus_file))
    expect(page.get_by_text("distinct characters")).to_be_visible()
    monkeypatch.setattr(summary, "summarize_corpus", slow_summary)
    page.get_by_text("word", exact=True).click()
    expect(page.get_by_label("Language (for word tokens)")).to_be_visible()
    expect(page.get_by_text("distinct words")).to_have_count(0)  # the summary is still being recomputed
    expect(page.get_by_text("distinct words")).to_be_visible(timeout=30_000)


def test_the_language_menu_shows_the_whole_choice(page: Page):
    """The closed menu cut "zh: Chinese: single characters, as character tokens (no wo…"."""
    page.get_by_text("word", exact=True).click()
    menu = page.get_by_label("Language (for word tokens)")
    menu.click()
    page.get_by_role("option", name="zh: Chinese").click()
    expect(menu).to_have_value("zh: Chinese")
    assert menu.evaluate("e => e.scrollWidth <= e.clientWidth"), "the chosen language should fit its box"
    expect(page.get_by_text("zh: single characters, as character tokens", exact=False)).to_be_visible()


# The x-axis labels of a chart's "training step" axis as drawn: each visible label's four corners on
# the screen (labels may be slanted), and the chart's and its legend's bottoms.
AXIS_LABELS = """() => {
    const axis = [...document.querySelectorAll('.vega-embed svg g.role-axis')]
        .find(g => g.querySelector('.role-axis-title')?.textContent === 'training step');
    const corners = [...axis.querySelectorAll('.role-axis-label text')].filter(t => t.getAttribute('opacity') !== '0').map(t => {
        const b = t.getBBox(), m = t.getScreenCTM();
        return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
            .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
    });
    const legend = document.querySelector('.vega-embed svg .role-legend').getBoundingClientRect();
    return {corners, legend: legend.bottom, block: document.querySelector('.loss-plot').getBoundingClientRect().bottom};
}"""


def _gap(a: list, b: list) -> float:
    """The clearance between two labels' outlines (convex quadrilaterals); 0 where they touch or cross."""

    def crosses(p, q, r, s) -> bool:
        side = lambda o, u, v: (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0])  # noqa: E731
        return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0

    def to_segment(p, u, v) -> float:
        dx, dy = v[0] - u[0], v[1] - u[1]
        t = max(0.0, min(1.0, ((p[0] - u[0]) * dx + (p[1] - u[1]) * dy) / (dx * dx + dy * dy)))
        return math.dist(p, (u[0] + t * dx, u[1] + t * dy))

    edges = lambda poly: list(zip(poly, poly[1:] + poly[:1]))  # noqa: E731
    if any(crosses(*e, *f) for e in edges(a) for f in edges(b)):
        return 0.0
    return min(min(to_segment(p, *e) for p in a for e in edges(b)), min(to_segment(p, *e) for p in b for e in edges(a)))


def test_a_long_runs_step_labels_keep_clear_of_each_other_and_of_the_legend(open_page, launch_app, bundled):
    """Upright, Vega-Lite packed the step labels edge to edge and pulled the last one against the one
    before ("11,00012,000"); slanted, they grew into the legend, which the chart had no room for. And
    the loss labels, absent from the empty chart, pushed the y title half out of the block."""

    def frame(steps: float):
        last = int(steps)
        rows = [{"step": s, "loss": 3 / math.log(s + 2), "series": "training"} for s in range(1, last, max(1, last // 300))]
        return app.loss_frame(rows + [{"step": last, "loss": 0.5, "series": "validation"}])

    with gr.Blocks() as demo:  # the app's layout around the app's chart, fed as a run feeds it
        steps = gr.Number(0, elem_id="steps")
        with gr.Row():
            gr.Column(scale=2, min_width=320)
            with gr.Column(scale=3, min_width=420):
                plot = app.loss_plot(app.loss_frame([]))
        steps.change(frame, steps, plot)
    page = open_page(launch_app(settings(bundled), demo))
    for last in (195, 11_112, 163_989, 1_728_673):  # each drew two upright labels within 1 px of each other
        page.locator("#steps input").fill(str(last))
        page.locator("#steps input").press("Tab")
        page.wait_for_timeout(800)
        drawn = page.evaluate(AXIS_LABELS)
        labels = drawn["corners"]
        assert len(labels) >= 4
        gaps = [_gap(a, b) for a, b in zip(labels, labels[1:])]
        assert min(gaps) >= 4, f"{last} steps: labels {min(gaps):.1f} px apart"
        assert drawn["legend"] <= drawn["block"], f"{last} steps: the legend is cut off"
        y_title = page.locator(".vega-embed svg text", has_text="nats per token")
        assert y_title.evaluate(UNCLIPPED), f"{last} steps: the y title is cut off (the labels pushed it out)"


# Whether an element is drawn uncut: inside every ancestor box that clips what overflows it.
UNCLIPPED = """e => {
    const r = e.getBoundingClientRect();
    for (let a = e.parentElement; a; a = a.parentElement) {
        if (getComputedStyle(a).overflow === 'visible') continue;
        const b = a.getBoundingClientRect();
        if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1) return false;
    }
    return r.width > 0 && r.height > 0;
}"""


def test_a_run_queued_behind_another_sessions_says_it_waits_and_stop_takes_it_off(open_page, launch_app, bundled, corpus_file):
    """With one training slot taken, pressing Train showed nothing but a faded status: gradio's queue
    line was drawn in a zero-height box on it."""
    url = launch_app(settings(bundled, train_concurrency=1, max_seconds=120))
    other = Client(url, verbose=False)
    job = other.submit(handle_file(str(corpus_file)), seconds=60, api_name="/train", **SMALL)
    try:
        deadline = time.monotonic() + 30
        while not session.training_sessions() and time.monotonic() < deadline:
            time.sleep(0.1)
        page = open_page(url)
        page.locator("input[type=file]").set_input_files(str(corpus_file))
        expect(page.get_by_text("held out to measure progress")).to_be_visible()
        train_btn = page.get_by_role("button", name=re.compile("Train"))
        train_btn.click()
        expect(page.get_by_text("Waiting for a free training slot", exact=False)).to_be_visible()
        position = page.get_by_text(re.compile(r"queue: 1/1"))
        expect(position).to_be_visible()
        assert position.evaluate(UNCLIPPED), "the queue position should be drawn where it can be seen"

        page.get_by_role("button", name=re.compile("Stop")).click()
        expect(page.get_by_text("Not started: taken off the queue by Stop", exact=False)).to_be_visible()
        expect(train_btn).to_be_enabled()
        assert not job.done(), "the other session's run goes on"
    finally:
        job.cancel()
        other.close()
