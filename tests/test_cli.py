"""``python -m rnn_demo``: the commands, their --json output, and one clear line (exit 2) for bad input.

The main paths run in real subprocesses; the long list of bad inputs runs through ``cli.main`` in
this process (same code, fd-level capture, ~100× faster), with a few of them in subprocesses too.
"""

import io
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import fields

import pytest

from rnn_demo.checkpoint_layout import zip_folder
from rnn_demo.cli import build_parser, main
from rnn_demo.config import GPU_DEFAULTS, TrainConfig
from tests.helpers import HUB_TOKEN, PYTHON, REPO_ROOT, memorisable_text, python_env
from tests.hub_server import HubServer

TRAIN_KEYS = {"cell", "tokenizer", "steps", "tokens", "seconds", "tokens_per_second", "train_loss", "val_loss", "out"}
SAMPLE_KEYS = {"text", "tokens", "seconds", "tokens_per_second"}
EVALUATE_KEYS = {"loss", "bits_per_token", "perplexity", "tokens"}
TINY = ["--hidden", "24", "--embedding", "16", "--seq-len", "32", "--batch-size", "8", "--threads", "1"]


def cli(*args: str, cwd=None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "rnn_demo", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=python_env(**env),
        cwd=cwd or REPO_ROOT,
        timeout=300,
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_one_line_error(returncode: int, stderr: str, expected: str) -> None:
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, stderr
    assert expected in lines[0], lines[0]


# ----- the commands, end to end ------------------------------------------------------------------


def test_train_then_resume_with_json_summaries(tmp_path, corpus_file):
    out = tmp_path / "run"
    first = cli("train", corpus_file, "--steps", "12", "--seed", "3", "--out", out, "--json", "--precision", "fp32", *TINY)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "step" in first.stderr  # the progress line
    summary = last_json(first.stdout)
    assert set(summary) >= TRAIN_KEYS
    assert (summary["cell"], summary["tokenizer"], summary["steps"], summary["out"]) == ("lstm", "char", 12, str(out))
    assert summary["tokens"] == 12 * 8 * 32 and summary["val_loss"] > 0 and summary["train_loss"] > 0
    assert summary["precision"] == "fp32"
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md", "trainer_state.json"}

    resumed = cli("train", corpus_file, "--resume", out, "--steps", "20", "--json", "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    summary = last_json(resumed.stdout)
    assert summary["steps"] == 20 and summary["tokens"] == 20 * 8 * 32 and summary["out"] == str(out)
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 24  # the run's own settings

    # the same command again carries on; a flag that would change the run's settings is refused, not ignored
    assert cli("train", corpus_file, "--resume", out, "--steps", "22", *TINY).returncode == 0
    changed = cli("train", corpus_file, "--resume", out, "--steps", "24", "--hidden", "32", "--cell", "gru")
    assert_one_line_error(changed.returncode, changed.stderr, "--cell gru, --hidden 32 would change them")
    # a run that has had its budget says so, rather than saving an untouched copy or crashing
    spent = cli("train", corpus_file, "--resume", out, "--steps", "22")
    assert_one_line_error(spent.returncode, spent.stderr, "has had its whole budget (22 steps in")
    assert "give a larger one to train on, e.g. --steps 44" in spent.stderr
    # another text fits another batch size: the saved state of the old one is dropped, not crashed on
    other = tmp_path / "other.txt"
    other.write_text(corpus_file.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    resumed = cli("train", other, "--resume", out, "--steps", "24", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = last_json(resumed.stdout)
    assert summary["steps"] == 24 and summary["batch_size"] < 8
    # a text mostly outside the run's vocabulary would train it to predict <unk>
    chinese = tmp_path / "chinese.txt"
    chinese.write_text("床前明月光，疑是地上霜。举头望明月，低头思故乡。" * 200, encoding="utf-8")
    foreign = cli("train", chinese, "--resume", out, "--steps", "30")
    assert_one_line_error(foreign.returncode, foreign.stderr, "100% of this text's tokens are outside the vocabulary of the run it continues")


def test_sample_json_and_same_seed_same_text(checkpoint):
    runs = [cli("sample", checkpoint, "--prompt", "The cat", "--length", "80", "--seed", "5", "--json") for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    result = last_json(runs[0].stdout)
    assert set(result) >= SAMPLE_KEYS
    assert result["tokens"] == 80 and result["text"].startswith("The cat") and len(result["text"]) == 87
    assert runs[0].stdout.startswith(result["text"])  # streamed first, then the JSON line
    assert last_json(runs[1].stdout)["text"] == result["text"]


def test_sample_and_evaluate_read_the_zip_the_app_downloads(checkpoint, corpus_file, tmp_path):
    """The app's Download gives a .zip; unzipping it first was the only way to use it here."""
    downloaded = zip_folder(checkpoint, tmp_path / "rnn-demo-lstm-20261129")
    by_hand = tmp_path / "by-hand.zip"  # a folder zipped by hand: the files one level down
    with zipfile.ZipFile(by_hand, "w") as zipped:
        for name in ("config.json", "model.safetensors"):
            zipped.write(checkpoint / name, f"tiny-lstm/{name}")
    args = ["--prompt", "The cat", "--length", "60", "--seed", "3", "--json"]
    results = []
    for source in (checkpoint, downloaded, by_hand):
        run = cli("sample", source, *args)
        assert run.returncode == 0, run.stderr
        results.append(last_json(run.stdout))
    assert results[0]["text"] == results[1]["text"] == results[2]["text"]
    assert [r["model"] for r in results[1:]] == [f"archive {downloaded}", f"archive {by_hand}"]
    losses = [last_json(cli("evaluate", source, corpus_file, "--json").stdout)["loss"] for source in (checkpoint, downloaded)]
    assert losses[0] == losses[1]


def test_an_archive_cannot_write_outside_its_folder(checkpoint, tmp_path):
    """Only the checkpoint's own files are written, under their own names, wherever the archive says."""
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("config.json", "model.safetensors"):
            zipped.write(checkpoint / name, f"../../escaped/{name}")
        zipped.writestr("../../escaped/run.sh", "echo pwned")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    run = cli("sample", archive, "--length", "10", "--seed", "1", cwd=work)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "escaped").exists() and not (work.parent.parent / "escaped").exists()


def test_sample_without_a_seed_or_with_a_negative_one_picks_one_and_says_which(checkpoint):
    """random.Random(-1) is random.Random(1): a negative seed used to repeat the positive one's text."""
    runs = [cli("sample", checkpoint, "--length", "60", *seed, "--json") for seed in ([], ["--seed=-1"])]
    for run in runs:
        assert run.returncode == 0, run.stderr
        seed = last_json(run.stdout)["seed"]
        assert seed >= 0 and f"seed {seed} (give --seed {seed} for this text again)" in run.stderr
        again = cli("sample", checkpoint, "--length", "60", "--seed", str(seed), "--json")
        assert last_json(again.stdout)["text"] == last_json(run.stdout)["text"]
    positive = cli("sample", checkpoint, "--length", "60", "--seed", "1", "--json")
    assert last_json(runs[1].stdout)["text"] != last_json(positive.stdout)["text"]


def test_sample_reports_unknown_prompt_characters(checkpoint):
    run = cli("sample", checkpoint, "--prompt", "The ☃", "--length", "10", "--seed", "1", "--json")
    assert run.returncode == 0 and "'☃'" in run.stderr
    assert last_json(run.stdout)["unknown"] == ["☃"]


def test_sample_refuses_a_prompt_too_long_to_prime_quickly(checkpoint):
    run = cli("sample", checkpoint, "--prompt", "x" * 5_001, "--length", "10")
    assert_one_line_error(run.returncode, run.stderr, "prompt must be at most 5,000 characters, got 5,001")
    assert cli("sample", checkpoint, "--prompt", "x" * 5_000, "--length", "10").returncode == 0


def test_evaluate_json(checkpoint, corpus_file):
    run = cli("evaluate", checkpoint, corpus_file, "--json")
    assert run.returncode == 0, run.stderr
    result = last_json(run.stdout)
    assert set(result) >= EVALUATE_KEYS
    assert result["bits_per_token"] == pytest.approx(result["loss"] / 0.6931471805599453)
    assert result["perplexity"] == pytest.approx(2.718281828459045 ** result["loss"])
    assert 0.99 * corpus_file.stat().st_size < result["tokens"] < corpus_file.stat().st_size  # rows read in parallel skip a few


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_inside_gives_each_tokens_value_as_json_a_table_or_colours(checkpoint, capfd, monkeypatch):
    text = "The cat sees the dog.\nThe dog!"
    run = cli("inside", checkpoint, text, "--signal", "forget", "--unit", "1:3", "--json")
    assert run.returncode == 0, run.stderr
    result = last_json(run.stdout)
    assert (result["signal"], result["unit"]) == ("forget", "1:3") and result["loss"] > 0
    assert [t["token"] for t in result["tokens"]] == list(text)
    assert all(0 <= t["value"] <= 1 and t["colour"] == round(2 * t["value"] - 1, 3) for t in result["tokens"])
    assert len(result["liveliest_units"]) == 8 and all(re.fullmatch(r"1:\d+", u) for u in result["liveliest_units"])

    # piped: a table of the same values, the note on stderr
    assert main(["inside", str(checkpoint), text, "--signal", "forget", "--unit", "1:3", "--token", "4"]) == 0
    out, err = capfd.readouterr()
    rows = out.strip("\n").split("\n")
    assert rows[0] == "#\ttoken\tforget" and len(rows) == len(text) + 1
    assert [float(r.split("\t")[2]) for r in rows[1:]] == pytest.approx([t["value"] for t in result["tokens"]], abs=1e-4)
    assert "forget gate f" in err and "unit 3" in err and "Token 4, `␣`: the model gave it a" in err
    assert "units that change most on this text (--unit): 1:" in err

    # coloured: the text as the app shows it, each token on its colour; the text read from stdin
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["inside", str(checkpoint), "--color", "always"]) == 0
    out, err = capfd.readouterr()
    assert out.count("\x1b[48;2;") == len(text) and ANSI.sub("", out) == text.replace("\n", "↵\n") + "\n"
    assert "surprise" in err and "units that change most" not in err


def test_push_then_sample_from_the_hub(tmp_path, checkpoint):
    with HubServer(token=HUB_TOKEN) as hub:
        run = cli("push", checkpoint, "someone/cli-model", HF_TOKEN=HUB_TOKEN, HF_ENDPOINT=hub.url)
        assert run.returncode == 0, run.stderr
        assert f"{hub.url}/someone/cli-model" in run.stdout
        assert HUB_TOKEN not in run.stdout + run.stderr
        assert sorted(hub.files("someone/cli-model")) == ["README.md", "config.json", "model.safetensors"]

        sampled = cli("sample", "someone/cli-model", "--length", "20", "--seed", "1", "--json", HF_ENDPOINT=hub.url)
        assert sampled.returncode == 0, sampled.stderr
        assert last_json(sampled.stdout)["model"] == "Hugging Face Hub (someone/cli-model)"

        downloaded = zip_folder(checkpoint, tmp_path / "rnn-demo-lstm")  # the app's Download, pushed as it is
        run = cli("push", downloaded, "someone/from-zip", HF_TOKEN=HUB_TOKEN, HF_ENDPOINT=hub.url)
        assert run.returncode == 0, run.stderr
        assert hub.files("someone/from-zip") == hub.files("someone/cli-model")


def test_help_for_each_command(capsys):
    run = cli("--help")
    assert run.returncode == 0 and all(c in run.stdout for c in ("train", "sample", "evaluate", "inside", "push"))
    helps = {}
    for command in ("train", "sample", "evaluate", "inside", "push"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        helps[command] = capsys.readouterr().out
        # every positional argument says what it wants (argparse lists one without help as its bare name)
        positionals = helps[command].split("positional arguments:\n")[1].split("\n\n")[0].splitlines()
        assert positionals and all(len(line.split(None, 1)) == 2 for line in positionals if not line.startswith(" " * 10)), positionals
    assert "--max-mb MB" in helps["train"] and "--max-bytes" not in helps["train"]  # the old name still works, unlisted


def test_train_shows_the_latest_validation_beside_the_best_and_says_when_the_model_learned_by_heart(tmp_path):
    """The line showed the best validation loss between validations, so a rising one flashed for a
    single step: overfitting never showed. Now it stays, and the run ends with what happened."""
    text = tmp_path / "letters.txt"
    text.write_text(memorisable_text(), encoding="utf-8")
    run = cli("train", text, "--steps", "200", "--eval-every", "20", "--hidden", "128", "--embedding", "16", "--seq-len", "32",
              "--batch-size", "8", "--lr", "0.01", "--dropout", "0", "--threads", "1", "--out", tmp_path / "run", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = last_json(run.stdout)["overfitting"]
    steps = [line for line in run.stderr.splitlines() if line.startswith("step")]  # "\r" reads as a new line here
    assert found and f"(best {found['best_loss']:.4f})" in steps[-2], "the line before the final one"
    note = run.stderr.strip().splitlines()[-1]
    assert note.startswith(f"note: The validation loss was lowest at step {found['best_step']:,}") and "--dropout 0.3" in note


def test_train_says_which_dropout_it_chose_and_why(tmp_path):
    text = tmp_path / "letters.txt"
    text.write_text(memorisable_text(), encoding="utf-8")
    common = ("--steps", "200", "--hidden", "16", "--embedding", "8", "--seq-len", "32", "--batch-size", "8", "--threads", "1")  # ~19 passes
    run = cli("train", text, *common, "--out", tmp_path / "run", "--json")
    assert run.returncode == 0, run.stderr
    said = re.search(r"batch 8, dropout 0\.3: automatic, for ~(\d+) passes over the text\) on letters\.txt", run.stderr)
    assert said, run.stderr
    assert int(said[1]) == pytest.approx(last_json(run.stdout)["epochs"], rel=0.1), "the passes the run then made"
    own = cli("train", text, *common, "--dropout", "0.1", "--out", tmp_path / "own")
    assert own.returncode == 0 and "batch 8, dropout 0.1) on letters.txt" in own.stderr, own.stderr


def test_train_help_gives_the_defaults_a_run_gets_on_a_cpu_and_on_a_gpu():
    """Read from TrainConfig and GPU_DEFAULTS: the help had said dropout 0, and a GPU run's is 0.5."""
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    settings = {f.name: f.default for f in fields(TrainConfig)}
    shown = [a for a in train._actions if a.dest in settings and a.dest not in ("steps", "tie_weights", "min_freq", "eval_every", "threads", "precision")]
    assert len(shown) >= 17
    for action in shown:
        cpu, gpu = settings[action.dest], GPU_DEFAULTS.get(action.dest, settings[action.dest])
        said = "default automatic" if cpu is None else f"default {cpu:g}" if isinstance(cpu, float) else f"default {cpu}"
        assert said in action.help, action.help
        if gpu != cpu:
            assert f"on a GPU {gpu:g}" in action.help, action.help
    assert "when the budget reads the text 15 times or more, else 0 (default automatic; on a GPU 0.5)" in next(a.help for a in shown if a.dest == "dropout")


def test_the_argument_names_scripts_rely_on():
    parser = build_parser()
    train = parser.parse_args(
        "train c.txt --cell gru --tokenizer word --lang zh --seconds 5 --steps 9 --hidden 8 --layers 2 --embedding 4 "
        "--dropout 0.1 --seq-len 16 --batch-size 2 --lr 0.01 --val-fraction 0.2 --implementation scratch "
        "--device cpu --seed 4 --resume r --out o --json".split()
    )
    assert (train.cell, train.tokenizer, train.lang, train.hidden_size, train.num_layers, train.embedding_size) == ("gru", "word", "zh", 8, 2, 4)
    assert (train.seq_len, train.batch_size, train.lr, train.val_fraction, train.implementation) == (16, 2, 0.01, 0.2, "scratch")
    assert (train.seconds, train.steps, train.dropout, train.device, train.seed, train.resume, train.out, train.json) == (5.0, 9, 0.1, "cpu", 4, "r", "o", True)
    assert parser.parse_args("train c.txt".split()).max_mb == 20
    assert parser.parse_args("train c.txt --max-mb 3".split()).max_mb == parser.parse_args("train c.txt --max-bytes 3".split()).max_mb == 3
    sample = parser.parse_args("sample m --prompt p --length 3 --temperature 0 --top-k 2 --top-p 0.5 --seed 1 --json".split())
    assert (sample.prompt, sample.length, sample.temperature, sample.top_k, sample.top_p, sample.seed, sample.json) == ("p", 3, 0.0, 2, 0.5, 1, True)
    assert parser.parse_args("evaluate m c.txt --json".split()).json
    assert parser.parse_args("push m o/n --private".split()).private
    inside = parser.parse_args(["inside", "m", "some text", "--signal", "forget", "--unit", "1:2", "--token", "3", "--color", "never", "--json"])
    assert (inside.text, inside.signal, inside.unit, inside.token, inside.color, inside.json) == ("some text", "forget", "1:2", 3, "never", True)


# ----- bad input: one line on stderr, exit code 2, no traceback ----------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, checkpoint):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.txt").write_text("  \n\n\t \n")
    (folder / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (folder / "table.csv").write_text("title,body\nA,B\n")
    (folder / "short.txt").write_text("Too short to train on.\n")
    (folder / "one.txt").write_text("x")
    (folder / "a-file").write_text("not a folder")
    pickled = folder / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_bytes((checkpoint / "config.json").read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with zipfile.ZipFile(folder / "pickled.zip", "w") as zipped:
        for name in ("config.json", "pytorch_model.bin"):
            zipped.write(pickled / name, f"model/{name}")
    with zipfile.ZipFile(folder / "notes.zip", "w") as zipped:
        zipped.writestr("notes.txt", "no model here")
    with zipfile.ZipFile(folder / "two.zip", "w") as zipped:
        for top in ("a", "b"):
            zipped.write(checkpoint / "config.json", f"{top}/config.json")
    (folder / "picture.zip").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    no_state = folder / "no-state"
    no_state.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(checkpoint / name, no_state / name)
    return folder


BAD_INPUTS = [
    ([], "the following arguments are required"),
    (["fly"], "invalid choice: 'fly'"),
    (["train"], "the following arguments are required: corpus"),
    (["train", "{bad}/missing.txt"], "missing.txt: no such file"),
    (["train", "{bad}"], "not a file"),
    (["train", "{bad}/empty.txt"], "empty.txt: the file is empty"),
    (["train", "{bad}/blank.txt"], "blank.txt: the file holds only whitespace"),
    (["train", "{bad}/picture.txt"], "picture.txt: this is a PNG image"),
    (["train", "{bad}/table.csv"], "a CSV corpus needs a 'text' column"),
    (["train", "{bad}/short.txt", "--steps", "1"], "the corpus is too short"),
    (["train", "{corpus}", "--max-mb", "0.01"], "is over the 10.2 KB limit"),
    (["train", "{corpus}", "--max-bytes", "0.01"], "is over the 10.2 KB limit"),  # its old name, still read as MB
    (["train", "{corpus}", "--max-mb", "-1"], "argument --max-mb: must be a positive number of MB, got -1"),
    (["train", "{corpus}", "--max-mb", "lots"], "argument --max-mb: invalid float value: 'lots'"),
    (["train", "{corpus}", "--min-freq", "-1", "--steps", "1"], "min freq must be ≥ 1, got -1"),
    (["train", "{corpus}", "--cell", "rnn"], "argument --cell: invalid choice: 'rnn'"),
    (["train", "{corpus}", "--steps", "many"], "argument --steps: invalid int value: 'many'"),
    (["train", "{corpus}", "--steps", "0"], "step budget must be positive"),
    (["train", "{corpus}", "--seconds", "-5"], "time budget must be positive"),
    (["train", "{corpus}", "--lr", "-1", "--steps", "1"], "learning rate must be"),
    (["train", "{corpus}", "--lr", "2", "--steps", "1"], "learning rate must be in (0, 1], got 2.0"),
    (["train", "{corpus}", "--dropout", "1.5", "--steps", "1"], "dropout must be in [0, 1)"),
    (["train", "{corpus}", "--seed", "-1", "--steps", "1"], "seed must be in [0, 2147483647], got -1"),
    (["train", "{corpus}", "--seed", "99999999999999999999"], "seed must be in [0, 2147483647], got 99999999999999999999"),
    (["train", "{corpus}", "--seconds", "nan"], "time budget must be a finite number, got nan"),
    (["train", "{corpus}", "--seconds", "inf"], "time budget must be a finite number, got inf"),
    (["train", "{corpus}", "--lr", "nan", "--steps", "1"], "learning rate must be a finite number, got nan"),
    (["train", "{corpus}", "--hidden", "0", "--steps", "1"], "hidden size must be ≥ 1"),
    (["train", "{corpus}", "--seq-len", "1", "--steps", "1"], "sequence length must be ≥ 2"),
    (["train", "{corpus}", "--val-fraction", "0.9", "--steps", "1"], "argument --val-fraction: must be between 0 and 0.5"),
    (["train", "{corpus}", "--tokenizer", "word", "--lang", "qq", "--steps", "1"], "spaCy cannot tokenize language 'qq'"),
    (["train", "{corpus}", "--resume", "{bad}/nowhere", "--steps", "1"], "no trainer state to resume from"),
    (["train", "{corpus}", "--resume", "{bad}/no-state", "--steps", "1"], "no trainer state to resume from"),
    (["train", "{corpus}", "--steps", "1", "--out", "{bad}/a-file", *TINY], "a-file: cannot write the checkpoint folder"),
    (["sample", "nowhere"], "'nowhere': no such checkpoint folder (or .zip of one), pretrained model or Hub repo id"),
    (["sample", "x" * 300 + "/y"], "no such checkpoint folder (or .zip of one), pretrained model or Hub repo id"),  # too long a name for a path
    (["sample", "{bad}/missing.zip"], "missing.zip: no such .zip file"),
    (["sample", "{bad}/pickled.zip"], "pickled.zip: refusing pickled weights (pytorch_model.bin)"),
    (["sample", "{bad}/notes.zip"], "notes.zip: not a checkpoint archive (no config.json"),
    (["sample", "{bad}/two.zip"], "two.zip: not a checkpoint archive (2 config.json files"),
    (["sample", "{bad}/picture.zip"], "picture.zip: not a readable .zip archive"),
    (["evaluate", "{bad}/pickled.zip", "{corpus}"], "refusing pickled weights"),
    (["push", "{bad}/pickled.zip", "someone/model"], "refusing pickled weights"),
    (["push", "{bad}/missing.zip", "someone/model"], "missing.zip: no such .zip file"),
    (["train", "x" * 300 + ".txt"], "no such file"),
    (["sample", "{bad}/pickled"], "refusing pickled weights (pytorch_model.bin)"),
    (["sample", "{bad}"], "not a checkpoint folder (missing config.json, model.safetensors)"),
    (["sample", "{checkpoint}", "--length", "0"], "length must be between 1 and 10,000"),
    (["sample", "{checkpoint}", "--temperature", "-1"], "temperature must be 0"),
    (["sample", "{checkpoint}", "--top-k", "-2"], "top-k must be ≥ 0"),
    (["sample", "{checkpoint}", "--top-p", "2"], "top-p must be in (0, 1]"),
    (["sample", "{checkpoint}", "--length", "ten"], "argument --length: invalid int value: 'ten'"),
    (["evaluate", "{checkpoint}", "{bad}/missing.txt"], "missing.txt: no such file"),
    (["evaluate", "{checkpoint}", "{bad}/one.txt"], "one.txt: too short to evaluate"),
    (["evaluate", "{checkpoint}", "{corpus}", "--val-fraction", "0.9"], "argument --val-fraction: must be between 0 and 0.5"),
    (["evaluate", "{checkpoint}", "{corpus}", "--val-fraction", "nan"], "argument --val-fraction: must be between 0 and 0.5"),
    (["evaluate", "nowhere", "{corpus}"], "no such checkpoint folder"),
    (["push", "{bad}/pickled", "someone/model"], "refusing pickled weights"),
    (["push", "{checkpoint}", "not a repo"], "'not a repo' is not a Hub repo id"),
    (["push", "{checkpoint}", "someone/model"], "no Hugging Face token: set HF_TOKEN"),
    (["inside", "{checkpoint}", ""], "the text to read is empty"),
    (["inside", "{checkpoint}", "€€"], "the model knows none of this text's characters"),
    (["inside", "{checkpoint}", "the cat", "--signal", "joy"], "argument --signal: invalid choice: 'joy'"),
    (["inside", "{checkpoint}", "the cat", "--signal", "cell", "--unit", "9:9"], "this model has no unit 9 in layer 9"),
    (["inside", "{checkpoint}", "the cat", "--signal", "cell", "--unit", "first"], "unit must be 'mean' or layer:unit"),
    (["inside", "{checkpoint}", "the cat", "--token", "99"], "no token 99: the text read has 7 tokens"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) or "(nothing)" for a, _ in BAD_INPUTS])
def test_bad_input_in_process(argv, message, bad_files, checkpoint, corpus_file, capfd, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a stray default --out would land here, not in the repo
    argv = [a.format(bad=bad_files, checkpoint=checkpoint, corpus=corpus_file) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's own errors
        code = exited.code
    captured = capfd.readouterr()
    assert_one_line_error(code, captured.err, message)
    assert captured.out == ""


def test_bad_input_in_subprocesses(bad_files, checkpoint, corpus_file):
    """The same rule end to end: exit status 2 from `python -m rnn_demo`, one line, no traceback."""
    with HubServer(token=HUB_TOKEN) as hub:
        cases = [
            (["train", bad_files / "missing.txt"], {}, "missing.txt: no such file"),
            (["train", corpus_file, "--cell", "rnn"], {}, "invalid choice: 'rnn'"),
            (["sample", checkpoint, "--top-p", "2"], {}, "top-p must be in (0, 1]"),
            (["sample", "someone/absent"], {"HF_ENDPOINT": hub.url}, "someone/absent: no such model repo on the Hub"),
            (["push", checkpoint, "someone/model"], {"HF_ENDPOINT": hub.url}, "no Hugging Face token"),
            (["push", checkpoint, "someone/model"], {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_wrong_0123456789"}, "the token was rejected"),
        ]
        for args, env, message in cases:
            run = cli(*args, **env)
            assert_one_line_error(run.returncode, run.stderr, message)
            assert "hf_wrong_0123456789" not in run.stdout + run.stderr
    url = hub.url  # stopped: nothing listens there now
    run = cli("push", checkpoint, "someone/model", HF_ENDPOINT=url, HF_TOKEN=HUB_TOKEN)
    assert_one_line_error(run.returncode, run.stderr, "the Hub could not be reached")


def test_the_progress_line_fits_the_terminal_and_blanks_out_a_longer_one_before_it():
    from rnn_demo.cli import fit_line

    line = "step    451 | loss 0.123 | val 2.6508 (best 1.8348) | 72,239 tok/s | 20s / 0s left | cpu (2 threads, bf16)"
    assert fit_line(line, columns=80) == line[:79]  # a wrapped line is not rewritten in place by "\r"
    assert fit_line("step 1", columns=None) == "step 1".ljust(110)  # piped: the whole line, padded
    assert fit_line(line + " on an H200" * 3, columns=None) == line + " on an H200" * 3
    assert fit_line(line, columns=200) == line.ljust(110)
