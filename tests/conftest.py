"""Suite-wide test settings."""

import torch

# Tiny models on a shared 2-core machine: one intra-op thread is 10-30x faster than two fighting
# threads (measured on the contract tests), and results do not depend on it.
torch.set_num_threads(1)
