"""The small models the tests export: each builds deterministically from a seed."""
import math

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 32)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = nn.functional.gelu(self.fc2(h))
        return torch.softmax(self.fc3(h), dim=-1)


class SmallCNN(nn.Module):
    """Conv stem, a residual block with batch norm, pooling, a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        h = torch.relu(self.bn1(self.stem(x)))
        h = torch.nn.functional.silu(self.bn2(self.conv(h))) + h
        h = self.pool(h)
        h = torch.flatten(h, 1)
        return self.head(h)


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block with the attention written out, a
    boolean key-padding mask and a GELU feed-forward (BERT/GPT style)."""

    def __init__(self, d=32, heads=4, ff=64):
        super().__init__()
        self.heads = heads
        self.d = d
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)
        self.embed = nn.Embedding(16, d)

    def forward(self, x, mask):
        # x: [B, T, d], mask: [B, T] bool, True = padding
        B, T, _ = x.shape
        pos = torch.arange(T)
        x = x + self.embed(pos)
        h = self.ln1(x)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        hd = self.d // self.heads
        q = q.view(B, T, self.heads, hd).transpose(1, 2)
        k = k.reshape(B, T, self.heads, hd).permute(0, 2, 3, 1)
        v = v.view(B, T, self.heads, hd).transpose(1, 2).contiguous()
        att = torch.matmul(q, k) / math.sqrt(hd)
        att = att.masked_fill(mask[:, None, None, :], -1e9)
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, T, self.d)
        x = x + self.proj(y)
        x = x + self.ff2(nn.functional.gelu(self.ff1(self.ln2(x))))
        return x


class DecoderBlock(nn.Module):
    """A GPT-style decoder block: causal self-attention (mask built with triu in
    forward, heads folded into the batch for bmm), tanh-GELU MLP, pre-norm."""

    def __init__(self, d=24, heads=3):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.size(0), x.size(1), x.size(2)
        hd = C // self.heads
        q, k, v = self.attn(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.heads, hd).transpose(1, 2).reshape(B * self.heads, T, hd)
        k = k.view(B, T, self.heads, hd).transpose(1, 2).reshape(B * self.heads, T, hd)
        v = v.view(B, T, self.heads, hd).transpose(1, 2).reshape(B * self.heads, T, hd)
        att = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(hd))
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        att = att.masked_fill(causal, float("-inf")).softmax(dim=-1)
        y = torch.bmm(att, v).view(B, self.heads, T, hd).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        return x + self.out(nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class ControlFlow(nn.Module):
    """A data-dependent `if` and a `for` loop over the rows of a tensor."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x):
        h = self.lin(x)
        if h.sum() > 0:
            h = torch.tanh(h) * 2.0
        else:
            h = torch.sigmoid(h) - 1.0
        acc = torch.zeros_like(h[0])
        for row in h:
            acc = acc * 0.5 + row
        return h + acc


class ScriptedRNN(nn.Module):
    """An Elman RNN over a time-major sequence, the time loop written in Python."""

    def __init__(self, n_in=5, n_hidden=7):
        super().__init__()
        self.n_hidden = n_hidden
        self.i2h = nn.Linear(n_in, n_hidden)
        self.h2h = nn.Linear(n_hidden, n_hidden, bias=False)
        self.out = nn.Linear(n_hidden, 3)

    def forward(self, x):
        # x: [T, B, n_in]
        h = torch.zeros(x.size(1), self.n_hidden)
        for t in range(x.size(0)):
            h = torch.tanh(self.i2h(x[t]) + self.h2h(h))
        return self.out(h)


class TorchEncoderLayers(nn.Module):
    """PyTorch's own nn.TransformerEncoderLayer (batch first: its fused inference
    path) and nn.MultiheadAttention (sequence first: the decomposed path)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, activation="gelu")
        self.mha = nn.MultiheadAttention(32, 4)

    def forward(self, x, mask):
        h = self.enc(x, src_key_padding_mask=mask)
        s = h.transpose(0, 1)
        a, _ = self.mha(s, s, s, key_padding_mask=mask)
        return h + a.transpose(0, 1)


class TorchRecurrent(nn.Module):
    """PyTorch's own recurrent layers: a two-layer bidirectional LSTM, a GRU and a
    ReLU RNN (batch first), whose outputs and final states are combined."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(12, 4, batch_first=True)
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=True, bias=False)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        g, hg = self.gru(y)
        r, hr = self.rnn(x)
        return g + r + hg.transpose(0, 1) + hr.transpose(0, 1) + (h.sum(0) + c.sum(0)).mean(-1, keepdim=True)[:, None]


class TupleOut(nn.Module):
    def forward(self, x):
        return x + 1, x * 2


class Unsupported(nn.Module):
    def forward(self, x):
        y = torch.cumsum(x, dim=1)
        z = torch.fft.fft(y).real
        return torch.cumsum(z, dim=0) + torch.relu(x)


def randomize_bn(model, seed=0):
    """Random running statistics and affine parameters, so that batch norm is not
    an identity in the test (as it is right after construction)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def build(name, seed=0):
    """(model in eval mode, example inputs) for a test model name."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    if name == "mlp":
        return MLP().eval(), (torch.randn(3, 8, generator=g),)
    if name == "cnn":
        return randomize_bn(SmallCNN()).eval(), (torch.randn(2, 3, 16, 16, generator=g),)
    if name == "encoder":
        x = torch.randn(2, 6, 32, generator=g)
        mask = torch.zeros(2, 6, dtype=torch.bool)
        mask[1, 4:] = True
        return EncoderBlock().eval(), (x, mask)
    if name == "torch_layers":
        x = torch.randn(2, 6, 32, generator=g)
        mask = torch.zeros(2, 6, dtype=torch.bool)
        mask[1, 4:] = True
        return TorchEncoderLayers().eval(), (x, mask)
    if name == "torch_recurrent":
        return TorchRecurrent().eval(), (torch.randn(3, 7, 5, generator=g),)
    if name == "decoder":
        return DecoderBlock().eval(), (torch.randn(2, 5, 24, generator=g),)
    if name == "control_flow":
        return ControlFlow().eval(), (torch.randn(4, 6, generator=g),)
    if name == "rnn":
        return ScriptedRNN().eval(), (torch.randn(5, 2, 5, generator=g),)
    raise KeyError(name)
