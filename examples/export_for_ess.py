"""Save attention maps or a causal operator for the `ess` command.

The `ess profile` command reads `.npy` (float32/float64, C or Fortran order) of
shape (L, L), (heads, L, L) or (C, p*L, m*L) with --block p,m, and `.safetensors`
files (pick a tensor with --tensor NAME).

    python examples/export_for_ess.py
    cargo run --release -p ess-cli -- profile attn.npy --format json --plot attn.svg
    cargo run --release -p ess-cli -- profile layer0.safetensors --tensor attn --tol-rank
"""
import numpy as np

L, heads, d = 128, 4, 16
rng = np.random.default_rng(0)

# NumPy: causal softmax attention maps, one per head -> (heads, L, L).
q = rng.standard_normal((heads, L, d))
k = rng.standard_normal((heads, L, d))
logits = q @ k.transpose(0, 2, 1) / np.sqrt(d)
mask = np.tril(np.ones((L, L), dtype=bool))
logits = np.where(mask, logits, -np.inf)
attn = np.exp(logits - logits.max(axis=-1, keepdims=True))
attn /= attn.sum(axis=-1, keepdims=True)
np.save("attn.npy", attn)  # masked entries are exactly 0: causal

# PyTorch (if installed): take the attention probabilities of one layer, e.g. from
# a Hugging Face model run with output_attentions=True, batch element 0:
#
#   out = model(input_ids, output_attentions=True)
#   probs = out.attentions[layer][0]                 # (heads, L, L)
#   np.save("layer0.npy", probs.detach().cpu().double().numpy())
#
# or, for several tensors in one file:
#
#   from safetensors.torch import save_file
#   save_file({"attn": probs.contiguous(), "gates": gates.contiguous()}, "layer0.safetensors")
#
# Any causal operator works the same way: materialise T (lower triangular,
# y = T u) per channel and stack the channels along the first axis.
try:
    from safetensors.numpy import save_file

    save_file({"attn": attn.astype(np.float32)}, "layer0.safetensors")
except ImportError:
    pass
