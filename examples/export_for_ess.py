"""Save attention maps or a causal operator for the `ess` command.

The `ess profile` command reads `.npy` (float32/float64, C or Fortran order) of
shape (L, L), (heads, L, L), (C, p*L, m*L) with --block p,m, or a batch
(B, heads, L, L), and `.safetensors` files (pick tensors with --tensor NAME,
repeatable, with * wildcards).

    python examples/export_for_ess.py
    cargo run --release -p ess-cli -- profile attn.npy --format json --plot attn.svg
    cargo run --release -p ess-cli -- profile layer0.safetensors --tensor attn --tol-rank

`save_attentions` below writes the attention probabilities of every layer of a
model (a Hugging Face model run with `output_attentions=True`, or any list of
(B, heads, L, L) arrays) to one .safetensors file, one tensor per layer, named
`layers.<k>.attn`; `examples/tiny_transformer.py` uses it.
"""
import numpy as np


def save_attentions(attentions, path):
    """Writes one (B, heads, L, L) float32 tensor per layer, `layers.<k>.attn`.

    `attentions` is a sequence of arrays or torch tensors (as in
    `model(input_ids, output_attentions=True).attentions`). The maps are causal
    (masked entries are exactly 0), so `ess profile` needs no --causal-part.
    """
    from safetensors.numpy import save_file

    tensors = {}
    for k, a in enumerate(attentions):
        if hasattr(a, "detach"):  # torch
            a = a.detach().cpu().float().numpy()
        a = np.ascontiguousarray(a, dtype=np.float32)
        if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
            raise ValueError(f"layer {k}: expected (B, heads, L, L), got {a.shape}")
        tensors[f"layers.{k}.attn"] = a
    save_file(tensors, path)


def causal_softmax_attention(L=128, heads=4, d=16, seed=0):
    """Causal softmax attention maps of random queries and keys, (heads, L, L)."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((heads, L, d))
    k = rng.standard_normal((heads, L, d))
    logits = q @ k.transpose(0, 2, 1) / np.sqrt(d)
    mask = np.tril(np.ones((L, L), dtype=bool))
    logits = np.where(mask, logits, -np.inf)
    attn = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return attn / attn.sum(axis=-1, keepdims=True)


if __name__ == "__main__":
    # NumPy: causal softmax attention maps, one per head -> (heads, L, L).
    attn = causal_softmax_attention()
    np.save("attn.npy", attn)  # masked entries are exactly 0: causal

    # PyTorch (if installed): take the attention probabilities of a model, e.g. a
    # Hugging Face model run with output_attentions=True:
    #
    #   out = model(input_ids, output_attentions=True)
    #   save_attentions(out.attentions, "model_attn.safetensors")  # every layer, (B, heads, L, L)
    #   np.save("layer0.npy", out.attentions[0][0].detach().cpu().double().numpy())  # one text, (heads, L, L)
    #
    # then profile every layer at once, with the delimiters of the texts marked:
    #
    #   ess profile model_attn.safetensors --tensor 'layers.*.attn' --mark 11,28 --format json
    #
    # Any causal operator works the same way: materialise T (lower triangular,
    # y = T u) per channel and stack the channels along the first axis.
    try:
        from safetensors.numpy import save_file

        save_file({"attn": attn.astype(np.float32)}, "layer0.safetensors")
    except ImportError:
        pass
