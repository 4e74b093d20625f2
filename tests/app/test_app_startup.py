"""The page is served, and its models listed and described, before torch is imported (a third of the
start-up on 2 cores, bench/startup.py); the first requests that need torch import it, two at once included.

Run in a fresh process: this test session imported torch long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.app.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys, threading
import app
from gradio_client import Client

settings = app.settings_from_env()
demo = app.build_demo(settings)
seen = {"built": "torch" in sys.modules}
port = int(sys.argv[1])
demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.launch_options(settings))
url = f"http://127.0.0.1:{port}/"
client = Client(url, verbose=False)
seen["models"] = client.predict(api_name="/models")
seen["described"] = client.predict(model=seen["models"][0]["name"], repo_id="", api_name="/load_model")
seen["served"] = "torch" in sys.modules

texts = []
def generate():
    texts.append(Client(url, verbose=False).predict(prompt="The", length=40, seed=5, api_name="/generate"))
threads = [threading.Thread(target=generate) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
seen.update(texts=texts, generated="torch" in sys.modules)
demo.close()
print(json.dumps(seen))
"""


def test_the_page_is_served_and_models_listed_and_described_before_torch_loads_and_the_first_requests_load_it():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "RNN_DEMO_THREADS": "1", "RNN_DEMO_MODELS": ""}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(free_port())], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (seen["built"], seen["served"]) == (False, False)
    assert [m["name"] for m in seen["models"]] == sorted(p.name for p in (ROOT / "checkpoints").iterdir() if p.is_dir())
    assert " parameters, " in seen["described"] and seen["described"].endswith(f"checkpoints/{seen['models'][0]['name']}**")
    first, second = seen["texts"]
    assert first == second and first.startswith("The") and len(first) > 20  # same seed, same text, both threads
    assert seen["generated"]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
