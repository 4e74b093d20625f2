"""Evaluation counts the <unk> tokens it predicted, so a loss over mostly <unk> can be told apart."""

import pytest
import torch

from rnn_demo.evaluate import EVAL_SEQ_LEN, Evaluation, evaluate, unknown_note
from rnn_demo.model import RNNLanguageModel
from rnn_demo.tokenizers import UNK, CharTokenizer


@pytest.fixture(scope="module")
def model() -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(CharTokenizer([UNK, "a", "b"]).to_config(), embedding_size=4, hidden_size=4).eval()


def test_evaluation_counts_the_unknown_tokens_it_predicted(model):
    ids = torch.tensor([0] + [1, 2] * (EVAL_SEQ_LEN * 2) + [0] * 99)  # 4 rows of 281; the first token is no target
    result = evaluate(model, ids)
    assert result.tokens == 4 * 280 and result.unknown == 99
    assert result.unknown_share == result.unknown / result.tokens
    assert result.as_dict()["unknown_tokens"] == result.unknown and result.as_dict()["unknown_share"] == result.unknown_share
    assert evaluate(model, torch.tensor([1, 2] * 300)).unknown == 0


@pytest.mark.parametrize(
    "unknown, expected",
    [
        (0, ""),
        (3, " | < 0.1 % of them <unk> (outside the vocabulary)"),
        (420, " | 4.2 % of them <unk> (outside the vocabulary)"),
        (8740, " | 87.4 % of them <unk> (outside the vocabulary): the loss is mostly about <unk>, not the text"),
    ],
)
def test_the_printed_evaluation_mentions_unknown_tokens(unknown, expected):
    assert unknown_note(Evaluation(loss=0.001, tokens=10_000, unknown=unknown).as_dict()) == expected
