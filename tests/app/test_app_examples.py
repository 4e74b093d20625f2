"""The README's gradio_client script is the example file, and it runs against the app."""

from __future__ import annotations

import re
import subprocess

from tests.helpers import PYTHON, REPO_ROOT, python_env

SCRIPT = REPO_ROOT / "examples" / "client_train_and_generate.py"


def test_the_readme_shows_the_example_script_verbatim():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- client-script -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README.md should show the gradio_client script after <!-- client-script -->"
    assert block.group(1) == SCRIPT.read_text(encoding="utf-8")


def test_the_example_script_trains_prints_the_loss_and_generates(app_url, corpus_file):
    result = subprocess.run(
        [PYTHON, str(SCRIPT), str(corpus_file), "--url", app_url, "--seconds", "5"],
        capture_output=True, text=True, timeout=120, env=python_env(), cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    losses = [float(m.group(1)) for line in lines if (m := re.search(r"training\s+loss (\d+\.\d+)", line))]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    assert any(re.search(r"validation\s+loss", line) for line in lines)
    assert "Done" in result.stdout
    assert any(line.startswith("The ") for line in lines)
    assert re.search(r"Model: this session .* its loss on this text: \*\*\d+\.\d+ nats per token", result.stdout)
    assert lines[-1].startswith("most surprising: '") and lines[-1].count(", ") == 4
