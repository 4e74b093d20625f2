"""The app in a real browser: Playwright driving Debian's Chromium (NOTES §7), never skipped.

Upload a corpus, train, see the loss plot drawn (an SVG with a line in it) and a sample, stop,
generate, and save screenshots under the test's temporary directory.
"""

from __future__ import annotations

import re
import shutil
import time

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from rnn_demo import session
from tests.app.conftest import SMALL

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
def page(app_url) -> Page:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(app_url)
        yield page
        browser.close()


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
    page.get_by_text("Advanced: model size and optimizer").click()
    page.screenshot(path=tmp_path / "1-uploaded.png", full_page=True)

    # ② Train: the loss curve is drawn (a line in the plot's SVG), the status moves, samples appear.
    page.get_by_role("button", name=re.compile("Train")).click()
    line = page.locator(".vega-embed svg g.mark-line path").first
    expect(line).to_be_attached(timeout=60_000)
    samples = page.locator(".samples textarea")
    expect(samples).to_have_value(re.compile("validation loss"), timeout=60_000)
    expect(page.get_by_text(re.compile(r"Step [\d,]+"))).to_be_visible()
    time.sleep(1.5)  # one more validation's worth of curve for the screenshot
    assert line.get_attribute("d").count("L") >= 2, "the loss line should join several points"
    assert line.get_attribute("stroke"), "the line should be drawn in its series' colour"
    page.screenshot(path=tmp_path / "2-training.png", full_page=True)

    # Stop: training ends and the model is kept, selected for generation, downloadable.
    page.get_by_role("button", name=re.compile("Stop")).click()
    expect(page.get_by_text("Stopped", exact=False)).to_be_visible(timeout=15_000)
    expect(page.get_by_role("button", name=re.compile("Download"))).to_be_visible()
    expect(page.get_by_label("Model", exact=True)).to_have_value(re.compile("My model"))
    expect(page.get_by_text(f"this session", exact=False).first).to_be_visible()

    # ③ Generate from the model just trained: the text streams into the box.
    page.get_by_label("Prompt (the model continues it)").fill("The dog")
    page.get_by_role("button", name=re.compile("Generate")).click()
    output = page.locator(".generated textarea")
    expect(output).to_have_value(re.compile(r"^The dog[\s\S]{100,}"), timeout=30_000)
    expect(page.get_by_text("seed", exact=False).last).to_be_visible()
    page.screenshot(path=tmp_path / "3-generated.png", full_page=True)
    for name in ("1-uploaded.png", "2-training.png", "3-generated.png"):
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
