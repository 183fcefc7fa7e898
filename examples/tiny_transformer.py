"""Train a tiny causal transformer on a synthetic delimiter task and export its
attention maps for `ess` (the fixture tests/fixtures/delimiter_attention.safetensors).

Task. A sequence of L = 32 tokens from a vocabulary of 12 content tokens is cut
into segments by a delimiter token `|`. At every position the model predicts the
first token of the current segment (the token right after the latest delimiter,
or the first token of the sequence). To solve it, a layer has to find the latest
delimiter and read what follows it, and may forget everything before the
delimiter: the kind of behaviour around delimiters that the ESS paper measures
in language models.

Model: 2 layers, 2 heads, width 32, learned positions, pre-LayerNorm, causal
softmax attention. Training takes about a minute on one CPU thread (PyTorch CPU).

    pip install numpy torch safetensors
    python examples/tiny_transformer.py            # writes the fixture, prints accuracy
    cargo run --release -p ess-cli -- profile tests/fixtures/delimiter_attention.safetensors \\
        --tensor 'layers.*.attn' --mark 9,20

The exported batch holds B = 3 texts with delimiters at the same positions 9 and
20 (training used random positions), so the marker positions are shared by all
items. Each tensor is (B, heads, L, L) float32, causal.
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_for_ess import save_attentions  # noqa: E402

L, VOCAB, DELIM = 32, 12, 12  # content tokens 0..11, delimiter 12
D_MODEL, HEADS, LAYERS = 32, 2, 2
STEPS, BATCH = 1500, 128
MARKS = (9, 20)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "delimiter_attention.safetensors")


def make_batch(rng, n, marks=None):
    """Tokens (n, L) and targets (n, L); targets are -100 at delimiters."""
    x = rng.integers(0, VOCAB, size=(n, L))
    for b in range(n):
        if marks is None:
            k = rng.integers(1, 4)
            pos = np.sort(rng.choice(np.arange(2, L - 2), size=k, replace=False))
        else:
            pos = np.array(marks)
        x[b, pos] = DELIM
    y = np.empty_like(x)
    for b in range(n):
        start = x[b, 0]
        for t in range(L):
            if x[b, t] == DELIM:
                y[b, t] = -100
                start = None
            else:
                if start is None:
                    start = x[b, t]
                y[b, t] = start
    return torch.tensor(x), torch.tensor(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        self.mlp = nn.Sequential(nn.Linear(D_MODEL, 4 * D_MODEL), nn.GELU(), nn.Linear(4 * D_MODEL, D_MODEL))
        self.register_buffer("mask", torch.tril(torch.ones(L, L, dtype=torch.bool)))

    def forward(self, h):
        n, t, _ = h.shape
        q, k, v = self.qkv(self.ln1(h)).split(D_MODEL, dim=-1)
        split = lambda z: z.view(n, t, HEADS, D_MODEL // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        logits = q @ k.transpose(-1, -2) / (D_MODEL // HEADS) ** 0.5
        logits = logits.masked_fill(~self.mask[:t, :t], float("-inf"))
        attn = torch.softmax(logits, dim=-1)  # (n, heads, L, L), exactly 0 above the diagonal
        out = (attn @ v).transpose(1, 2).reshape(n, t, D_MODEL)
        h = h + self.proj(out)
        return h + self.mlp(self.ln2(h)), attn


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB + 1, D_MODEL)
        self.pos = nn.Parameter(0.02 * torch.randn(L, D_MODEL))
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.head = nn.Linear(D_MODEL, VOCAB)

    def forward(self, x):
        h = self.tok(x) + self.pos[: x.shape[1]]
        attentions = []
        for block in self.blocks:
            h, a = block(h)
            attentions.append(a)
        return self.head(h), attentions


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    model = TinyTransformer()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    for step in range(STEPS):
        x, y = make_batch(rng, BATCH)
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == STEPS - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        x, y = make_batch(np.random.default_rng(1), 1000)
        logits, _ = model(x)
        keep = y != -100
        acc = (logits.argmax(-1)[keep] == y[keep]).float().mean().item()
        print(f"held-out accuracy (random delimiters): {acc:.4f}")
        x, y = make_batch(np.random.default_rng(2), 3, marks=MARKS)
        logits, attentions = model(x)
        keep = y != -100
        acc = (logits.argmax(-1)[keep] == y[keep]).float().mean().item()
        print(f"exported batch: delimiters at {MARKS}, accuracy {acc:.4f}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_attentions(attentions, OUT)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    print(f"wrote {os.path.relpath(OUT, root)}: {LAYERS} tensors of shape {tuple(attentions[0].shape)}")


if __name__ == "__main__":
    main()
