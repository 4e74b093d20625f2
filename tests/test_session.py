"""What a run reports to the app (session.train_events), step by step."""

import pytest

from rnn_demo.session import train_events
from rnn_demo.train import Trainer
from tests.helpers import tiny_config


def test_each_reported_training_loss_is_the_mean_over_the_tokens_trained_since_the_last_report(corpus_text):
    """One reported step's loss was noisy: a row's short last window read 0.444 among steps at 1.1-1.2."""
    config = tiny_config(steps=24, eval_every=8, batch_size=4, seq_len=24)
    text = corpus_text[:900]  # rows of ~202 tokens: 8 windows of 24, then a short one
    trainer = Trainer(text, config)
    steps = [(p.tokens, p.train_loss) for p in trainer.run() if not p.done]  # the same run, step by step
    assert len({tokens - before for (tokens, _), (before, _) in zip(steps[1:], steps)}) > 1, "windows of two widths"
    reports = [e.progress for e in train_events(text, config, every=1e9)][1:-1]  # not the untrained model's, not done
    assert [p["step"] for p in reports] == [1, 8, 16], "the first step, then the validations"
    before = 0
    for report in reports:
        done = [(tokens, loss) for tokens, loss in steps if before < tokens <= report["tokens"]]
        trained = [tokens - previous for (tokens, _), previous in zip(done, [before] + [t for t, _ in done[:-1]])]
        mean = sum(n * loss for n, (_, loss) in zip(trained, done)) / sum(trained)
        assert report["train_loss"] == pytest.approx(mean, rel=1e-6)
        before = report["tokens"]
