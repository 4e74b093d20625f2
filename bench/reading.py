"""Look inside: how long a model takes to read a text through the hand-written cells, keeping every
gate, and what the reading holds in memory (the app keeps one per session).

The app's default model size (character LSTM and GRU, and a word LSTM over a 10,000-word vocabulary)
and the bundled checkpoints, each reading ``--tokens`` tokens (the app's most); medians of
``--rounds``. Prints JSON.

    python bench/reading.py [--tokens 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info
from bench.sampling import VOCAB, default_model
from rnn_demo.catalog import BUNDLED_DIR
from rnn_demo.checkpoint import load_model
from rnn_demo.config import TrainConfig
from rnn_demo.devices import set_cpu_threads
from rnn_demo.inside import MAX_READ_TOKENS, read_text
from rnn_demo.model import RNNLanguageModel
from rnn_demo.tokenizers import UNK

WORDS = 10_000


def word_model() -> RNNLanguageModel:
    c = TrainConfig()
    vocab = [UNK, "\n", *(f"w{i} " for i in range(WORDS - 2))]
    return RNNLanguageModel(
        {"type": "word", "vocab": vocab, "lang": "en"},
        cell="lstm",
        embedding_size=c.embedding_size,
        hidden_size=c.hidden_size,
    ).eval()


def models() -> dict[str, tuple[RNNLanguageModel, str]]:
    """name → (model, a text of its own tokens to read)."""
    chars = "".join(VOCAB[1:]) * 100
    found = {
        "default char LSTM": (default_model("lstm"), chars),
        "default char GRU": (default_model("gru"), chars),
        f"default word LSTM ({WORDS:,} words)": (
            word_model(),
            "".join(f"w{i * 7 % (WORDS - 2)} " for i in range(5000)),
        ),
    }
    for folder in sorted(BUNDLED_DIR.iterdir()):
        if (folder / "config.json").is_file():
            model = load_model(folder)
            vocab = model.tokenizer.vocab[1:]
            found[f"bundled {folder.name}"] = (model, "".join(vocab[i % len(vocab)] for i in range(5000)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=MAX_READ_TOKENS)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    threads = set_cpu_threads()
    result = {
        "benchmark": "reading",
        "machine": machine_info(),
        "threads": threads,
        "tokens": args.tokens,
        "models": {},
    }
    for name, (model, text) in models().items():
        text = "".join(model.tokenizer.pieces(text)[: args.tokens])
        read_text(model, text[:50])  # warm-up
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            reading = read_text(model, text)
            times.append(time.perf_counter() - start)
        held = sum(
            t.numel() * t.element_size()
            for t in (*reading.signals.values(), reading.probability, reading.guess_ids, reading.guess_probabilities)
        )
        result["models"][name] = {
            "shape": f"{model.cell} {model.num_layers}x{model.hidden_size}, vocabulary {model.tokenizer.vocab_size:,}",
            "tokens_read": len(reading.pieces),
            "seconds": round(statistics.median(times), 3),
            "ms_per_token": round(1000 * statistics.median(times) / len(reading.pieces), 3),
            "reading_mb": round(held / 2**20, 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
