"""``python -m rnn_demo train|sample|evaluate|inside|push`` — the same functions the app calls.

Bad input prints one line on stderr and exits with code 2; ``--json`` puts one JSON object on
the last line of stdout for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import time
from dataclasses import fields

from .config import GPU_DEFAULTS, MAX_PROMPT_CHARS, TrainConfig
from .errors import UserError
from .overfitting import AUTOMATIC_RULE, describe_overfitting
from .signals import MEAN, SURPRISE, signal_choices


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None


def _val_fraction(text: str) -> float:
    """``--val-fraction``, checked as it is parsed, so that the error names the flag."""
    value = _number(text)
    if not 0 < value < 0.5:  # batches.split_text's bounds; NaN fails too
        raise argparse.ArgumentTypeError(f"must be between 0 and 0.5 (the last share of the text held out), got {text}")
    return value


def _megabytes(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of MB, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _with_default(name: str, text: str = "", unit: str = "") -> str:
    """``text`` and the setting's default, read from TrainConfig and GPU_DEFAULTS so the help can't
    drift from them (it had said dropout 0, which a GPU run's default is not)."""
    def shown(value) -> str:
        if value is None:
            return "automatic"
        return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"

    cpu = getattr(TrainConfig, name)
    gpu = GPU_DEFAULTS.get(name, cpu)
    default = f"default {shown(cpu)}" + (f"; on a GPU {shown(gpu)}" if gpu != cpu else "")
    return f"{text} ({default})" if text else default


MODEL_HELP = "a checkpoint folder (or the .zip the app downloads), a bundled model's name (a folder of checkpoints/, e.g. shakespeare-lstm) or a Hub repo id (owner/name)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rnn_demo", description="Train, sample, evaluate and publish LSTM/GRU language models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model on a text corpus", description="Train an LSTM or GRU language model on a .txt, .md or .csv corpus; unset options keep the benchmarked defaults.")
    train.add_argument("corpus", help="a .txt, .md or .csv (with a 'text' column) file")
    train.add_argument("--cell", choices=["lstm", "gru"], help=_with_default("cell"))
    train.add_argument("--tokenizer", choices=["char", "word"], help=_with_default("tokenizer"))
    train.add_argument("--lang", help=_with_default("lang", "spaCy language for --tokenizer word (en, xx, de, ...; zh cuts Chinese into single characters)"))
    train.add_argument("--seconds", type=float, help=_with_default("seconds", "time budget; with --steps alone, none", " s"))
    train.add_argument("--steps", type=int, help="step budget")
    train.add_argument("--hidden", dest="hidden_size", type=int, help=_with_default("hidden_size", "units per layer"))
    train.add_argument("--layers", dest="num_layers", type=int, help=_with_default("num_layers", "stacked recurrent layers"))
    train.add_argument("--embedding", dest="embedding_size", type=int, help=_with_default("embedding_size", "size of each token's vector"))
    train.add_argument("--dropout", type=float, help=_with_default("dropout", f"share of the embeddings and layer outputs zeroed while training; automatic: {AUTOMATIC_RULE}"))
    train.add_argument("--tie-weights", action="store_true", default=None, help="share embedding and decoder weights (needs --embedding equal to --hidden)")
    train.add_argument("--seq-len", type=int, help=_with_default("seq_len", "window length for truncated BPTT"))
    train.add_argument("--batch-size", type=int, help=_with_default("batch_size", "windows trained at once"))
    train.add_argument("--lr", type=float, help=_with_default("lr", "Adam learning rate"))
    train.add_argument("--lr-schedule", choices=["constant", "cosine"], help=_with_default("lr_schedule", "cosine: decay to --lr-floor × lr over the budget"))
    train.add_argument("--lr-floor", type=float, help=_with_default("lr_floor", "cosine decays to this fraction of --lr"))
    train.add_argument("--clip", type=float, help=_with_default("clip", "gradient-norm clip"))
    train.add_argument("--val-fraction", type=_val_fraction, help=_with_default("val_fraction", "last fraction of the text used for validation"))
    train.add_argument("--min-freq", type=int, help="vocabulary: minimum count (default 1 for char, 2 for word)")
    train.add_argument("--max-vocab", type=int, help=_with_default("max_vocab", "vocabulary size cap"))
    train.add_argument("--eval-every", type=float, help="steps (step budget) or seconds (time budget) between validations (default: ~8 per run, at most 15 s apart, and after each epoch once an epoch is shorter, at most once a second; giving it turns those off)")
    train.add_argument("--implementation", choices=["fused", "scratch"], help=_with_default("implementation", "scratch: the hand-written cells of cells.py, to compare"))
    train.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help=_with_default("device"))
    train.add_argument(
        "--precision", choices=["auto", "bf16", "fp32"],
        help="matmuls in bf16 (auto: on CUDA, and on CPUs with bf16 in hardware for hidden sizes from 128)",
    )
    train.add_argument("--threads", type=int, help="CPU threads (default: the usable cores, fewer while another process competes for them)")
    train.add_argument("--seed", type=int, help=_with_default("seed", "≥ 0: the same seed gives the same starting weights"))
    train.add_argument("--max-mb", type=_megabytes, default=20, metavar="MB", help="corpus size cap in MB (default 20)")
    train.add_argument("--max-bytes", dest="max_mb", type=_megabytes, default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # its old name: it was MB all along
    train.add_argument("--resume", metavar="DIR", help="continue the run saved in this checkpoint folder; --seconds/--steps count the whole run, so the same command picks up where it stopped")
    train.add_argument("--out", metavar="DIR", help="checkpoint folder to write (default: runs/<corpus>-<cell>)")
    train.add_argument("--save-every", type=float, default=300, metavar="S", help="also save every S seconds (default 300)")
    train.add_argument("--json", action="store_true", help="last line of stdout: a JSON summary")

    sample = commands.add_parser("sample", help="generate text", description="Generate text from a checkpoint folder, a bundled model name or a Hub repo id.")
    sample.add_argument("model", help=MODEL_HELP)
    sample.add_argument("--prompt", default="", help=f"text the model continues (at most {MAX_PROMPT_CHARS:,} characters)")
    sample.add_argument("--length", type=int, default=500, help="tokens to generate (default 500)")
    sample.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    sample.add_argument("--top-k", type=int, default=0, help="0 = no limit")
    sample.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default 1.0 = off)")
    sample.add_argument("--seed", type=int, help="same seed and settings, same text (left out or negative: a random one, printed)")
    sample.add_argument("--json", action="store_true")

    evaluate = commands.add_parser("evaluate", help="loss of a model on a corpus", description="Loss (nats/token), bits per token and perplexity over a corpus, state carried.")
    evaluate.add_argument("model", help=MODEL_HELP)
    evaluate.add_argument("corpus", help="a .txt, .md or .csv (with a 'text' column) file")
    evaluate.add_argument("--val-fraction", type=_val_fraction, help="evaluate only the last fraction of the text (e.g. 0.1, as training holds out)")
    evaluate.add_argument("--json", action="store_true")

    inside = commands.add_parser(
        "inside", help="colour a text by the model's surprise or a gate",
        description="Let a model read a text and show, token by token, how surprised it was or what one of its gates did (the app's Look inside).",
    )  # fmt: skip
    inside.add_argument("model", help=MODEL_HELP)
    inside.add_argument("text", nargs="?", help="the text to read (left out: standard input)")
    inside.add_argument("--signal", default=SURPRISE, choices=[name for _, name in signal_choices()], help="surprise (default), or a gate or state: forget, input, output, cell (LSTM); update, reset, hidden (GRU)")
    inside.add_argument("--unit", default=MEAN, help="mean (default: over all units), or layer:unit such as 1:149")
    inside.add_argument("--token", type=int, metavar="N", help="also say what the model expected at token N (from 1)")
    inside.add_argument("--color", choices=["auto", "always", "never"], default="auto", help="colour the text (auto: on a terminal, unless NO_COLOR is set); without, a table of each token's value")
    inside.add_argument("--json", action="store_true", help="one JSON object instead: each token with its value and colour, the loss, the liveliest units")

    push = commands.add_parser("push", help="upload a checkpoint folder to the Hub", description="Upload a checkpoint folder to a Hub model repo; the token comes from HF_TOKEN or a saved login.")
    push.add_argument("model", help="checkpoint folder (or the .zip the app downloads)")
    push.add_argument("repo_id", help="owner/name")
    push.add_argument("--private", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": _train, "sample": _sample, "evaluate": _evaluate, "inside": _inside, "push": _push}[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


_FLAGS = {"hidden_size": "hidden", "num_layers": "layers", "embedding_size": "embedding"}  # options not named as their field


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import TrainConfig, default_config
    from .data import read_corpus
    from .devices import pick_device
    from .train import RESUME_MAY_CHANGE, Trainer

    corpus = read_corpus(args.corpus, max_bytes=int(args.max_mb * 2**20))
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if "steps" in given and "seconds" not in given:
        given["seconds"] = None
    config = default_config(pick_device(args.device or "auto").type == "cuda", **given)
    source = {"name": corpus.name, "size_bytes": corpus.size_bytes, "encoding": corpus.encoding}
    trainer = Trainer(corpus.text, config, source=source, resume=args.resume)
    changed = [name for name, value in given.items() if name not in RESUME_MAY_CHANGE and getattr(trainer.config, name) != value]
    if args.resume and changed:
        flags = ", ".join(f"--{_FLAGS.get(name, name).replace('_', '-')} {given[name]}" for name in changed)
        raise UserError(
            f"--resume continues {args.resume} with its own settings, and {flags} would change them: drop "
            f"{'it' if len(changed) == 1 else 'them'} (a resumed run may change only {', '.join('--' + n for n in RESUME_MAY_CHANGE)})"
        )
    if trainer.budget_spent():
        spent, steps = trainer.position, trainer.config.steps
        more = f"--steps {2 * spent.step}" if steps is not None and spent.step >= steps else f"--seconds {2 * math.ceil(spent.elapsed)}"
        raise UserError(
            f"{args.resume} has had its whole budget ({spent.step:,} steps in {spent.elapsed:.0f} s; --seconds and --steps "
            f"count the whole run): give a larger one to train on, e.g. {more}"
        )
    out = args.out or args.resume or f"runs/{Path(corpus.name).stem}-{trainer.config.cell}"
    try:  # before training, not after it
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{out}: cannot write the checkpoint folder ({error.strerror or error})") from None
    command = "python -m rnn_demo " + shlex.join(sys.argv[1:] if sys.argv[1:2] == ["train"] else ["train", *sys.argv[1:]])
    print(
        f"training {trainer.config.cell.upper()} ({trainer.model.parameter_count:,} parameters, "
        f"vocabulary {trainer.data.tokenizer.vocab_size:,}, batch {trainer.batch_size}{_dropout(trainer)}) on {corpus.name} "
        f"[{corpus.encoding}] — {trainer.data.train_ids.numel():,} training / {trainer.data.val_ids.numel():,} validation tokens",
        file=sys.stderr,
    )
    last_save, run, latest_val = time.monotonic(), trainer.run(), None
    try:
        for progress in run:
            latest_val = progress.val_loss if progress.val_loss is not None else latest_val
            _print_progress(progress, latest_val)
            if time.monotonic() - last_save > args.save_every:
                trainer.save(out, command=command)
                last_save = time.monotonic()
    except KeyboardInterrupt:
        run.close()
        print("\ninterrupted: saving the best model so far", file=sys.stderr)
    print(file=sys.stderr)
    trainer.save(out, command=command)
    summary = {k: v for k, v in trainer.summary().items() if k not in ("config", "source")}
    summary["out"] = out
    print(f"saved {out} (validation loss {_fmt(summary['val_loss'])})", file=sys.stderr)
    if summary["overfitting"]:
        print(f"note: {describe_overfitting(summary['overfitting'], trainer.config.dropout, '--dropout {}')}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0


def _dropout(trainer) -> str:
    """The run's dropout, and why when it was chosen for the run (no ``--dropout``)."""
    passes = trainer.dropout_chosen_for_passes
    if passes is None:
        return f", dropout {trainer.config.dropout:g}" if trainer.config.dropout else ""
    return f", dropout {trainer.config.dropout:g}: automatic, for ~{passes:,.0f} passes over the text"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _print_progress(p, latest_val: float | None) -> None:
    """One line, rewritten in place; the validation column keeps the latest validation until the
    next, and the best beside it when that was better (a rising one is what overfitting looks like)."""
    remaining = "" if p.remaining is None else f" / {p.remaining:.0f}s left"
    val = _fmt(latest_val if latest_val is not None else p.best_val_loss)
    if latest_val is not None and p.best_val_loss is not None and p.best_val_loss < latest_val:
        val += f" (best {_fmt(p.best_val_loss)})"
    line = (
        f"step {p.step:>6} | loss {_fmt(p.train_loss, 3)} | val {val}"
        f" | {p.tokens_per_second:,.0f} tok/s | {p.elapsed:.0f}s{remaining} | {p.device}"
    )
    columns = shutil.get_terminal_size().columns if sys.stderr.isatty() else None
    print("\r" + fit_line(line, columns), end="", file=sys.stderr, flush=True)


def fit_line(line: str, columns: int | None, width: int = 110) -> str:
    """``line`` padded to ``width`` (to blank out a longer line before it), and cut to a terminal's
    ``columns``: a line that wraps is no longer rewritten in place by "\r", and each update would
    leave a new line behind."""
    padded = line.ljust(width)
    return padded if columns is None else padded[: columns - 1]


def _sample(args: argparse.Namespace) -> int:
    from .catalog import open_model
    from .generate import Generation

    model, origin = open_model(args.model)
    generation = Generation(
        model, args.prompt, length=args.length, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed
    )
    if generation.unknown:
        print(f"note: not in the vocabulary, skipped or <unk>: {' '.join(map(repr, generation.unknown))}", file=sys.stderr)
    print(args.prompt, end="", flush=True)
    pieces, started = [], time.perf_counter()
    for piece in generation:
        pieces.append(piece)
        print(piece, end="", flush=True)
    seconds = time.perf_counter() - started
    print()
    if args.seed is None or args.seed < 0:
        print(f"seed {generation.seed} (give --seed {generation.seed} for this text again)", file=sys.stderr)
    if args.json:
        result = {
            "text": args.prompt + "".join(pieces),
            "tokens": len(pieces),
            "seconds": seconds,
            "tokens_per_second": len(pieces) / seconds if seconds else 0.0,
            "seed": generation.seed,
            "model": origin,
            "unknown": generation.unknown,
        }
        print(json.dumps(result, ensure_ascii=False))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .batches import split_text
    from .catalog import open_model
    from .data import read_corpus
    from .evaluate import evaluate, unknown_note

    model, origin = open_model(args.model)
    text = read_corpus(args.corpus).text
    if args.val_fraction is not None:
        text = split_text(text, args.val_fraction)[1]
    ids = model.tokenizer.encode(text)
    if ids.numel() < 2:
        raise UserError(f"{args.corpus}: too short to evaluate")
    result = evaluate(model, ids).as_dict()
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"loss {result['loss']:.4f} nats/token | {result['bits_per_token']:.4f} bits/token | "
            f"perplexity {result['perplexity']:.2f} | {result['tokens']:,} tokens ({origin}){unknown_note(result)}"
        )
    return 0


# The app's colours (gradio's HighlightedText): red for +1, blue for −1, over white.
RED, BLUE = (239, 68, 60), (59, 90, 213)


def _inside(args: argparse.Namespace) -> int:
    from .catalog import open_model
    from .inside import parse_unit, read_text, unit_value, view

    model, origin = open_model(args.model)
    text = args.text if args.text is not None else sys.stdin.read()
    reading = read_text(model, text)
    shown = view(reading, args.signal, args.unit, origin)
    values = reading.values(shown.signal, parse_unit(shown.unit))
    expected = reading.token_note(args.token - 1).replace("**", "") if args.token is not None else None  # refused before any output
    liveliest = [unit_value(unit) for unit in reading.liveliest_units(shown.signal)]
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    if args.json:
        tokens = [
            {"token": piece, "value": float(value) if read else None, "colour": score}
            for piece, value, read, (_, score) in zip(reading.pieces, values.tolist(), reading.read.tolist(), shown.highlights)
        ]
        result = {"model": origin, "signal": shown.signal, "unit": shown.unit, "loss": reading.mean_surprise, "tokens": tokens, "liveliest_units": liveliest}
        print(json.dumps(result, ensure_ascii=False))
        return 0
    if colour:
        print("".join(_painted(piece, score) for piece, score in shown.highlights))
    else:
        print(f"#\ttoken\t{'surprise (nats)' if shown.signal == SURPRISE else shown.signal}")
        for n, (piece, value, read) in enumerate(zip(reading.pieces, values.tolist(), reading.read.tolist()), 1):
            print(f"{n}\t{json.dumps(piece, ensure_ascii=False)}\t{f'{value:.4f}' if read else 'skipped'}")
    print(shown.note.replace("**", ""), file=sys.stderr)
    if liveliest:
        print(f"units that change most on this text (--unit): {', '.join(liveliest)}", file=sys.stderr)
    if expected:
        print(expected, file=sys.stderr)
    return 0


def _painted(piece: str, score: float | None) -> str:
    """A token as the app shows it (a line break as "↵" then the break) on a background of its colour
    (24-bit ANSI), dark text on it; the break itself outside the colour, which would fill the line."""
    if score is None:
        return piece
    target = RED if score >= 0 else BLUE
    r, g, b = (round(255 + (channel - 255) * min(abs(score), 1.0)) for channel in target)
    return f"\033[48;2;{r};{g};{b}m\033[38;2;20;20;20m{piece.replace(chr(10), '')}\033[0m" + "\n" * piece.count("\n")


def _push(args: argparse.Namespace) -> int:
    from . import hub
    from .checkpoint_layout import is_archive, unzip_checkpoint

    folder = unzip_checkpoint(args.model) if is_archive(args.model) else args.model
    url = hub.push(folder, args.repo_id, private=args.private)
    print(f"pushed {args.model} to {url}")
    return 0
