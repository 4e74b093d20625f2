"""rnn_demo: train, watch and sample LSTM and GRU language models.

The modules follow the data: ``data`` (reading a corpus) → ``tokenizers`` → ``batches`` →
``cells`` / ``model`` → ``train`` (with ``evaluate``) → ``checkpoint`` / ``hub`` / ``catalog`` →
``generate``; ``cli`` and the app at the top level are thin front ends over these.
"""

import os

# OpenMP threads that spin while waiting collapse when another process takes a core (a web
# server, a second user, a test runner): 2-thread training fell from ~26k to ~2k tokens/s under
# one busy process. Sleeping waits cost nothing measurable on a quiet machine (bench/contention.py).
# Must be set before torch loads its OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
