"""Embedders: text and images to vectors (see :mod:`.base` and :mod:`.registry`)."""

import os

# PyTorch's OpenMP threads busy-wait between parallel regions by default. On a machine whose cores are
# shared (the web server, PostgreSQL and the embedder run side by side) the spinning threads take the
# CPU the others need: a one-query embedding measured 5-8x slower, and the SQL after it slower too.
# Sleeping threads cost little for our batch sizes. OpenMP reads this when PyTorch loads, so it is set
# before any embedder imports torch, and only if the user has not chosen a policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
