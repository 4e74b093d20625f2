"""Stop reaches inside a training step and a validation (stopping.py), and the run keeps what it had."""

import threading

import pytest
import torch

from rnn_demo.evaluate import evaluate
from rnn_demo.model import RNNLanguageModel
from rnn_demo.session import RunView, train_events
from rnn_demo.stopping import Stopped, stoppable
from rnn_demo.tokenizers import UNK
from rnn_demo.train import Trainer
from tests.helpers import tiny_config


def _model(cell: str, implementation: str, dropout: float = 0.0) -> RNNLanguageModel:
    tokenizer = {"type": "char", "vocab": [UNK, *"abcdefgh"]}
    return RNNLanguageModel(tokenizer, cell=cell, embedding_size=8, hidden_size=16, num_layers=2, dropout=dropout,
                            implementation=implementation)  # fmt: skip


def _stopped() -> threading.Event:
    stop = threading.Event()
    stop.set()
    return stop


# the fused kernels reading the embedding table, the fused kernels reading embeddings (dropout on them), the from-scratch cells
PATHS = [("fused", 0.0), ("fused", 0.1), ("scratch", 0.0)]


@pytest.mark.parametrize("implementation, dropout", PATHS, ids=["table", "embeddings", "scratch"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_set_stop_ends_the_forward_pass_and_only_inside_stoppable(cell, implementation, dropout):
    model = _model(cell, implementation, dropout).train()
    ids = torch.randint(1, 9, (4, 12))
    model.loss(ids, ids)  # not inside stoppable: runs whatever is set
    with pytest.raises(Stopped), stoppable(_stopped()):
        model.loss(ids, ids)
    with stoppable(threading.Event()):  # not set: runs
        model.loss(ids, ids)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_set_stop_ends_the_backward_pass_through_autograd_as_stopped(cell):
    model = _model(cell, "fused").train()
    ids = torch.randint(1, 9, (4, 12))
    loss, _ = model.loss(ids, ids)
    with pytest.raises(Stopped), stoppable(_stopped()):
        loss.backward()  # raised in the kernels' backward loop, re-raised by autograd as it was


def test_stop_between_forward_and_backward_abandons_that_step_and_keeps_the_weights_before_it(corpus_text):
    trainer = Trainer(corpus_text, tiny_config(steps=20, eval_every=100))
    run = trainer.run()
    for _ in range(2):
        next(run)
    after_two = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    zero_grad = trainer.optimizer.zero_grad

    def stop_then_zero_grad(**kwargs):  # _train_step calls it between forward and backward
        trainer.stop.set()
        zero_grad(**kwargs)

    trainer.optimizer.zero_grad = stop_then_zero_grad
    assert next(run, None) is None, "the run should end, not report the step it was stopped in"
    assert trainer.position.step == 2 and trainer.final is None
    state = trainer.model.state_dict()
    assert all(torch.equal(state[k], after_two[k]) for k in after_two), "the abandoned step must change nothing"
    assert not trainer.model.training
    assert trainer.position.history and trainer.position.history[-1]["step"] == 2, "a quick validation, at stop"


def test_stop_during_a_validation_keeps_the_best_weights_so_far(corpus_text, monkeypatch):
    trainer = Trainer(corpus_text, tiny_config(steps=40, eval_every=5))
    run = trainer.run()
    while len(trainer.position.history) < 1:
        next(run)
    best = {k: v.clone() for k, v in trainer.best_weights.items()}
    validations = len(trainer.position.history)
    trainer.validation_seconds = 60.0  # a big model's: too slow to validate once more at stop

    def stopped_inside(*args, **kwargs):  # Stop pressed while the next validation runs
        trainer.stop.set()
        return evaluate(*args, **kwargs)

    monkeypatch.setattr("rnn_demo.train.evaluate", stopped_inside)
    for _ in run:
        pass
    assert len(trainer.position.history) == validations, "the interrupted validation must not count"
    state = trainer.model.state_dict()
    assert all(torch.equal(state[k], best[k]) for k in best), "the model holds the best weights validated"
    assert trainer.final is None


def test_a_stopped_run_ends_its_plot_and_samples_where_it_stopped(corpus_text):
    """Stop before the first periodic validation: the app's validation series had one point (the
    untrained model's), which draws nothing, and the stop's own validation went unreported."""
    stop, kept = threading.Event(), []
    config = tiny_config(steps=50, eval_every=1000, sample_length=20)
    view = RunView(config, "english.txt")
    run = train_events(corpus_text, config, every=0.0, stop=stop, on_stop=kept.append)
    events = list(_stop_after_step(run, 3, stop))
    for event in events:
        view.update(event)
    last = events[-1]
    assert last.progress["step"] == 3 and not last.progress["done"]
    assert last.progress["val_loss"] is not None and last.progress["sample"], "the stop's validation, with a sample"
    assert kept == [last.model], "handed over once, the same model the event carries"
    validation = [row["step"] for row in view.rows if row["series"] == "validation"]
    assert validation == [0, 3] and [step for step, _, _ in view.samples] == [0, 3]


def _stop_after_step(events, step: int, stop: threading.Event):
    for event in events:
        yield event
        if event.progress["step"] == step:
            stop.set()
