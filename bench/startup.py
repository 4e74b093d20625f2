"""Start-up: seconds from ``python app.py`` to the first HTTP 200, against a hello-world Gradio
Blocks app started the same way, interleaved over rounds. Bar: ≤ 1.5× the hello-world app.

    python bench/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HELLO = """import gradio as gr
with gr.Blocks() as demo:
    name = gr.Textbox(label="Name")
    greeting = gr.Textbox(label="Greeting")
    name.submit(lambda n: f"Hello {n}!", name, greeting)
demo.launch()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_first_200(script: Path, timeout: float = 120.0) -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{script.name} did not answer within {timeout} s")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp, "hello.py")
        hello.write_text(HELLO)
        app_times, hello_times = [], []
        for _ in range(args.rounds):
            hello_times.append(time_to_first_200(hello))
            app_times.append(time_to_first_200(ROOT / "app.py"))
    app, base = statistics.median(app_times), statistics.median(hello_times)
    print(json.dumps({
        "benchmark": "startup",
        "machine": machine_info(),
        "app_seconds": round(app, 2),
        "hello_world_seconds": round(base, 2),
        "ratio": round(app / base, 2),
        "app_all": [round(t, 2) for t in app_times],
        "hello_all": [round(t, 2) for t in hello_times],
    }, indent=2))


if __name__ == "__main__":
    main()
