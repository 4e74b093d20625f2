"""The CUDA path: cuDNN training in bf16 autocast, checkpoints that move between GPU and CPU, sampling,
looking inside.

These need an NVIDIA GPU, so they skip on CI's CPU-only machine; they were run on an H200 lent to a
session (bench/RESULTS.md, "GPU"). Everything else the trainer does is covered on the CPU.
"""

import json
import math

import pytest
import torch

from rnn_demo import checkpoint as ckpt
from rnn_demo.config import TrainConfig
from rnn_demo.generate import generate_text
from rnn_demo.inside import read_text
from rnn_demo.model import RNNLanguageModel
from rnn_demo.session import train_events
from rnn_demo.train import Trainer
from tests.helpers import tiny_config
from tests.test_cli import TINY, cli, last_json

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _cuda_config(**overrides) -> TrainConfig:
    return tiny_config(device="cuda", threads=None, **overrides)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_trains_on_the_gpu_in_bf16_and_learns(corpus_text, cell):
    trainer = Trainer(corpus_text, _cuda_config(cell=cell, steps=60))
    assert trainer.device.type == "cuda" and trainer.precision == "bf16"
    events = list(trainer.run())
    assert events[0].device == f"cuda ({torch.cuda.get_device_name()}, bf16)"
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in trainer.model.parameters())
    chance = math.log(trainer.data.tokenizer.vocab_size)
    validations = [e.val_loss for e in events if e.val_loss is not None]
    assert validations[-1] < 0.75 * chance and validations[-1] < validations[0] - 0.3


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cudnn_scratch_and_cpu_give_the_same_logits(cell):
    """One state dict, three ways of running it: cuDNN, the from-scratch cells on the GPU, the CPU."""
    torch.manual_seed(0)
    tokenizer = {"type": "char", "vocab": ["<unk>", *"abcdefgh"]}
    cpu = RNNLanguageModel(tokenizer, cell=cell, embedding_size=16, hidden_size=32, num_layers=2).eval()
    ids = torch.randint(0, 9, (3, 20))
    # cuDNN's RNNs multiply in TF32 by default (10-bit mantissas): compare in full float32
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False), torch.no_grad():
        expected, _ = cpu(ids)
        for implementation in ("fused", "scratch"):
            gpu = RNNLanguageModel(tokenizer, cell=cell, embedding_size=16, hidden_size=32, num_layers=2, implementation=implementation)
            gpu.load_state_dict(cpu.state_dict())
            logits, _ = gpu.cuda().eval()(ids.cuda())
            torch.testing.assert_close(logits.cpu(), expected, atol=1e-5, rtol=1e-5)


def test_a_gpu_trained_checkpoint_loads_on_the_cpu_and_samples_alike(tmp_path, corpus_text):
    trainer = Trainer(corpus_text, _cuda_config(steps=20))
    list(trainer.run())
    trainer.save(str(tmp_path / "run"))
    loaded = ckpt.load_model(tmp_path / "run")
    assert next(loaded.parameters()).device.type == "cpu"
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value.cpu()), name
    text = generate_text(trainer.model, "The cat", length=60, seed=4)
    assert len(text) > 0 and text == generate_text(loaded, "The cat", length=60, seed=4)
    # Look inside reads the model where it is (on the GPU) as on the CPU
    on_gpu, on_cpu = read_text(trainer.model, "The cat sees the dog."), read_text(loaded, "The cat sees the dog.")
    torch.testing.assert_close(on_gpu.probability, on_cpu.probability)
    torch.testing.assert_close(on_gpu.signals["forget"], on_cpu.signals["forget"])


def test_a_gpu_run_resumes_on_the_gpu_and_on_the_cpu(tmp_path, corpus_text):
    first = Trainer(corpus_text, _cuda_config(steps=10))
    list(first.run())
    first.save(str(tmp_path / "run"))
    for device, steps in (("cuda", 15), ("cpu", 20)):
        resumed = Trainer(corpus_text, TrainConfig(steps=steps, seconds=None, device=device, threads=1), resume=str(tmp_path / "run"))
        assert resumed.position.step == steps - 5
        events = list(resumed.run())
        assert events[-1].step == steps and math.isfinite(events[-1].val_loss)
        assert all(s["exp_avg"].device.type == device for s in resumed.optimizer.state.values())
        resumed.save(str(tmp_path / "run"))


def test_the_apps_training_events_carry_cpu_weights(corpus_text):
    """The app (and ZeroGPU's worker) gets plain CPU tensors back from a GPU run."""
    events = list(train_events(corpus_text, _cuda_config(steps=30, eval_every=10), every=0))
    assert events[0].info["device"] == "cuda"
    models = [e.model for e in events if e.model is not None]
    assert len(models) >= 3 and events[-1].progress["done"]
    assert all(w.device.type == "cpu" for w in models[-1].weights.values())
    assert len(generate_text(models[-1].model(), length=40, seed=1)) > 0


def test_cli_trains_on_cuda(tmp_path, corpus_file):
    out = tmp_path / "cli"
    run = cli("train", corpus_file, "--steps", "30", "--device", "cuda", "--out", out, "--json", *TINY)
    assert run.returncode == 0, run.stderr
    summary = last_json(run.stdout)
    assert summary["precision"] == "bf16" and summary["device"].startswith("cuda (") and summary["steps"] == 30
    assert json.loads((out / "config.json").read_text())["cell"] == "lstm"
