"""The tutorial's original hand-written units, reproduced only as a speed baseline.

One ``nn.Linear`` per gate on ``cat(x, h)`` plus a second, redundant zero bias per gate; the GRU
keeps the tutorial's wrong update (``h' = r ⊙ h + (1 − z) ⊙ n``, reset gate unused in the
candidate). Do not use these for anything but ``train_throughput.py``: see rnn_demo/cells.py.
"""

from __future__ import annotations

import torch
from torch import nn

from rnn_demo.loss import next_token_loss


class LSTMUnit(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        size = input_size + hidden_size
        self.forget_gate = nn.Linear(size, hidden_size)
        self.input_gate = nn.Linear(size, hidden_size)
        self.candidate = nn.Linear(size, hidden_size)
        self.output_gate = nn.Linear(size, hidden_size)
        self.bias_f = nn.Parameter(torch.zeros(hidden_size))
        self.bias_i = nn.Parameter(torch.zeros(hidden_size))
        self.bias_c = nn.Parameter(torch.zeros(hidden_size))
        self.bias_o = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x, prev_h, prev_c):
        combined = torch.cat((x, prev_h), dim=1)
        f = torch.sigmoid(self.forget_gate(combined) + self.bias_f)
        i = torch.sigmoid(self.input_gate(combined) + self.bias_i)
        c_tilde = torch.tanh(self.candidate(combined) + self.bias_c)
        next_c = f * prev_c + i * c_tilde
        o = torch.sigmoid(self.output_gate(combined) + self.bias_o)
        next_h = o * torch.tanh(next_c)
        return next_h, next_c


class GRUUnit(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        size = input_size + hidden_size
        self.reset_gate = nn.Linear(size, hidden_size)
        self.update_gate = nn.Linear(size, hidden_size)
        self.candidate = nn.Linear(size, hidden_size)

    def forward(self, x, prev_h):
        combined = torch.cat((x, prev_h), dim=1)
        reset = torch.sigmoid(self.reset_gate(combined))
        z = torch.sigmoid(self.update_gate(combined))
        candidate = torch.tanh(self.candidate(combined))
        return reset * prev_h + (1 - z) * candidate  # the tutorial's (wrong) update


class TutorialLM(nn.Module):
    """Embedding → one tutorial unit stepped over time → linear decoder (the model it lacked)."""

    def __init__(self, cell: str, vocab_size: int, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cell = cell
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.unit = (LSTMUnit if cell == "lstm" else GRUUnit)(embedding_size, hidden_size)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        x = self.embedding(ids)
        batch = ids.shape[0]
        h = x.new_zeros(batch, self.hidden_size) if state is None else state[0]
        c = x.new_zeros(batch, self.hidden_size) if state is None else state[1]
        outputs = []
        for t in range(ids.shape[1]):
            if self.cell == "lstm":
                h, c = self.unit(x[:, t], h, c)
            else:
                h = self.unit(x[:, t], h)
            outputs.append(h)
        return self.decoder(torch.stack(outputs, 1)), (h.detach(), c.detach())

    def loss(self, ids, targets, state=None):
        """Like RNNLanguageModel.loss: the loss computed from the logits, as the tutorial would."""
        logits, state = self(ids, state)
        return next_token_loss(logits, targets), state
