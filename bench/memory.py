"""Memory: peak RSS of the app process through a 60 s training run, a generation and a look inside
the model as it reads what it wrote (driven through gradio_client, as a script would), and of a
word-level training run on 10 MB of text (with the time spent word-tokenizing it). Prints JSON.

    python bench/memory.py [--seconds 60] [--word-mb 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from bench.procs import DATA, ROOT, english_text, run_measured  # noqa: E402
from bench.startup import free_port  # noqa: E402


def rss_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields["VmRSS"], "peak_mb": fields["VmHWM"]}


def app_memory(seconds: float) -> dict:
    from gradio_client import Client, handle_file

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        result = {"after_start": rss_mb(app.pid)}
        job = client.submit(handle_file(str(DATA / "tinyshakespeare.txt")), seconds=seconds, api_name="/train")
        for _ in job:
            pass
        job.result()
        result["after_training"] = rss_mb(app.pid)
        text = client.predict(model="my model", length=2000, seed=1, api_name="/generate")
        result["after_generation"] = rss_mb(app.pid)
        client.predict(model="my model", text=text, signal="forget", api_name="/look_inside")  # 1,000 tokens read
        result["after_look_inside"] = rss_mb(app.pid)
        client.close()
        return result
    finally:
        app.terminate()
        app.wait(10)


def word_level_memory(megabytes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "english.txt")
        corpus.write_text(english_text(megabytes), encoding="utf-8")
        probe = (
            "import sys, time; sys.path.insert(0, '.');"
            "from rnn_demo.tokenizers import WordTokenizer, UNK;"
            f"text = open({str(corpus)!r}, encoding='utf-8').read(); t = WordTokenizer([UNK]);"
            "t.pieces('warm up'); s = time.perf_counter(); n = len(t.pieces(text));"
            "print(n, time.perf_counter() - s)"
        )
        out, _, _ = run_measured(["-c", probe])
        pieces, tokenize_seconds = out.split()
        stdout, wall, rss = run_measured(
            ["-m", "rnn_demo", "train", str(corpus), "--tokenizer", "word", "--steps", "20", "--max-bytes", "64",
             "--out", str(Path(tmp, "out")), "--json"]
        )
        summary = json.loads(stdout.strip().splitlines()[-1])
    return {
        "megabytes": megabytes,
        "word_pieces": int(pieces),
        "tokenize_seconds": round(float(tokenize_seconds), 2),
        "vocab_size": summary["vocab_size"],
        "peak_rss_mb": round(rss),
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--word-mb", type=float, default=10)
    args = parser.parse_args()
    result = {"benchmark": "memory", "machine": machine_info()}
    result["app"] = app_memory(args.seconds)
    print(json.dumps(result["app"]), flush=True)
    result["word_level"] = word_level_memory(args.word_mb)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
