"""One small scripted function per group of ATen lowerings, each exported and run
on the reference interpreter and the cpu plugin against PyTorch (rtol 1e-4,
atol 1e-5): the table's lowerings are checked one by one, not only through the
models that happen to use them."""
import os

import skip_guard

skip_guard.require("torch", "numpy")

from typing import List  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import harness  # noqa: E402
import switchyard_torch  # noqa: E402


def arith(x, y):
    a = x * 2 + 1.5 - y / 3
    b = torch.rsub(x, 1.0) * torch.pow(y.abs() + 1, 0.5) + x.pow(2)
    c = torch.maximum(x, y) - torch.minimum(x, y) + torch.remainder(x, 0.7) + torch.floor_divide(y, 0.3)
    d = x.exp() + (y.abs() + 0.1).log() + (x.abs() + 1).sqrt() + (y.abs() + 1).rsqrt() + x.neg().sign()
    e = x.sin() + y.cos() + x.floor() + y.ceil() + torch.round(x * 3) + torch.erf(y) + torch.reciprocal(y.abs() + 1)
    return a + b + c + d + e


def int_math(x, k: int):
    n = x.size(0)
    m = (n * 3 + k) // 2 - (k % 3)
    i = torch.arange(m) * 2 - k
    j = torch.div(i, 3, rounding_mode="floor") + torch.remainder(i, 4) + (i // -2)
    return j + n


def activations(x):
    a = F.hardswish(x) + F.hardsigmoid(x) + F.leaky_relu(x, 0.1) + F.elu(x, 0.7) + F.softplus(x, 2.0, 3.0)
    b = F.relu6(x * 4) + F.hardtanh(x, -0.5, 0.5) + F.silu(x) + F.gelu(x, approximate="tanh") + torch.sigmoid(x)
    c = torch.clamp(x, min=-0.3) + torch.clamp(x, -0.2, 0.4) + x.clamp_max(0.1) + torch.tanh(x)
    return a + b + c + F.log_softmax(x, dim=1) + F.softmax(x, dim=0)


def compare_where(x, y):
    m = (x > y) | (x < -0.5) & ~(y >= 0.2)
    n = (x == x) ^ (y != 0.1) & (x <= 0.3)
    z = torch.where(m, x, y) + torch.where(n, 1.0, 0.0)
    return z.masked_fill(y > 0.5, -2.0) + (x > 0).float() + torch.logical_not(m).to(torch.float32)


def reductions(x):
    a = x.sum(dim=1, keepdim=True) + x.mean(dim=[0, 2], keepdim=True) + x.amax(dim=2, keepdim=True)
    b = x.amin(dim=-1, keepdim=True) + x.prod(dim=1, keepdim=True) + x.std(dim=1, keepdim=True)
    c = x.var(dim=2, unbiased=False, keepdim=True) + x.max(dim=1, keepdim=True)[0] + x.min(dim=0)[0]
    idx = (x.argmax(dim=2, keepdim=True) - x.argmin(dim=1, keepdim=True)).float()
    return a + b + c + idx + x.sum() + x.mean() + x.max() + x.min() + x.all().float() + (x > 0).any().float()


def shapes(x):
    # x: [B, 4, 6]
    a = x.view(x.size(0), 24).reshape(-1, 3, 8).permute(0, 2, 1).contiguous().flatten(1)
    b = x.transpose(1, 2).flatten(start_dim=0, end_dim=1).t()
    c = torch.cat([x, x * 2], dim=2)[:, 1:3, ::2] + x[:, -3:-1, 1:].sum(dim=2, keepdim=True)
    d = torch.stack([x[:, 0], x[:, 1], x[:, 3]], dim=1).unsqueeze(0).squeeze(0).squeeze()
    e = x.select(1, 2).narrow(1, 1, 3).expand(3, x.size(0), 3).sum(0)
    parts = x.chunk(2, dim=2)
    f = parts[0] - parts[1] + torch.split(x, [1, 5], dim=2)[1].sum(2, keepdim=True)
    return a.sum() + b.sum() + c.sum(dim=[1, 2]) + d.sum(dim=[1, 2]) + e.sum(1) + f.sum(dim=[1, 2])


def indexing(x, idx):
    a = x[idx]
    b = torch.index_select(x, 1, idx)
    e = F.embedding(idx, x)
    return a.sum(1) + b.sum(0) + e.sum(1) + x[1] + x[:, idx[0]]


def creation(x):
    z = torch.zeros_like(x) + torch.ones_like(x) * 3 + torch.full_like(x, 0.5)
    r = torch.arange(0, x.size(1), 2).float() + torch.zeros(x.size(1) // 2)
    t = torch.tensor([1.0, 2.0, 3.0]).sum() + torch.ones(2, 3).sum() + torch.full([2], 4.0).sum()
    mask = torch.tril(torch.ones(x.size(1), x.size(1))) + torch.triu(torch.ones(4, x.size(1)), diagonal=1).sum(0)
    return z + r.repeat(2) + t + mask.sum(0)


def pool_pad(x):
    a = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    b = F.avg_pool2d(x, 2, 1, 1, count_include_pad=True)
    c = F.max_pool2d(x, 3, 2, 1, 1, ceil_mode=True)
    d = F.adaptive_avg_pool2d(x, (3, 4)) + F.adaptive_max_pool2d(x, 1) + F.adaptive_avg_pool2d(x, (5, 6))[:, :, 1:4, 1:5]
    d = d + F.adaptive_max_pool2d(x, (3, 4)) + F.adaptive_max_pool2d(x, (4, 4))[:, :, 1:, :]
    d = d + F.adaptive_avg_pool2d(x[:, :, :2, :3], (3, 4))
    e = F.pad(x, [1, 2, 0, 1], value=0.5).mean(dim=[2, 3], keepdim=True)
    f = F.pad(x, [1, 1, 2, 2], mode="reflect").amax(dim=[2, 3], keepdim=True)
    return a.sum(dim=[2, 3]) + b.sum(dim=[2, 3]) + c.sum(dim=[2, 3]) + d.sum(dim=[2, 3]) + e[:, :, 0, 0] + f[:, :, 0, 0]


def interpolate(x):
    a = F.interpolate(x, scale_factor=2.0, mode="nearest")
    b = F.interpolate(x, size=(10, 16), mode="bilinear", align_corners=False)
    c = F.interpolate(x, size=[10, 16], mode="bilinear", align_corners=True)
    d = F.interpolate(x, size=(7, 5), mode="nearest")
    e = F.interpolate(x[:, 0], scale_factor=2.0, mode="linear").sum(1, keepdim=True).unsqueeze(1)
    return a + b + c + F.interpolate(d, size=(10, 16)) + e


def einsum(q, k, v):
    s = torch.einsum("bhqd,bhkd->bhqk", q, k).softmax(-1)
    o = torch.einsum("bhqk,bhkd->bqhd", s, v)
    outer = torch.einsum("i,j->ij", q[0, 0, 0], k[0, 0, 1])
    many = torch.einsum("bhqd,bhkd->bqk", q, k) + torch.einsum("bhqd->bdq", q).sum(1, keepdim=True).transpose(1, 2)
    return o.sum(dim=[2, 3]).unsqueeze(2) + many.sum(2, keepdim=True) + outer.sum() + torch.einsum("ij->", outer)


def nn_ops(x, w, wt, g):
    a = F.conv2d(x, w, None, 1, "same") + F.conv2d(x, w, torch.ones(4), stride=1, padding=1, dilation=1)
    b = F.conv_transpose2d(a, wt, None, stride=2, padding=1, output_padding=1)
    c = F.layer_norm(b, [b.size(3)], g, None, 1e-5) + F.instance_norm(b) + F.group_norm(b, 1, g[:2], g[2:4])
    d = F.batch_norm(c, torch.zeros(2), torch.ones(2) * 2, None, None, False, 0.1, 1e-3)
    m = torch.matmul(d, d.transpose(2, 3)) + torch.bmm(d[0], d[0]) + torch.addmm(g[:1], d[0, 0], d[0, 1])
    e = F.group_norm(torch.cat([a, a * a], 1), 4, g[:8], g[2:]).sum(1, keepdim=True)
    return m + torch.baddbmm(d[0], d[1], d[0], beta=0.5, alpha=2.0) + e.mean() + F.group_norm(e, 1).amax()


def lists_and_loops(x, n: int):
    shape: List[int] = x.shape
    acc = x
    i = 0
    while i < n:
        if bool(acc.mean() > 0):
            acc = acc - 0.3
        else:
            acc = acc * 1.5 + 0.2
        i += 1
    sizes = [shape[0], shape[1] // 2, 2]
    return acc.view(sizes).sum(-1) + float(len(sizes))


def _b(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


CASES = {
    "arith": (arith, (_b(3, 5), _b(3, 5, seed=1))),
    "int_math": (int_math, (_b(5, 2), 4)),
    "activations": (activations, (_b(4, 6) * 3,)),
    "compare_where": (compare_where, (_b(3, 7), _b(3, 7, seed=2))),
    "reductions": (reductions, (_b(2, 3, 4),)),
    "shapes": (shapes, (_b(2, 4, 6),)),
    "indexing": (indexing, (_b(4, 4), torch.tensor([2, 0, 3, 3]))),
    "creation": (creation, (_b(2, 6),)),
    "pool_pad": (pool_pad, (_b(2, 3, 9, 8),)),
    "interpolate": (interpolate, (_b(2, 3, 5, 8),)),
    "einsum": (einsum, (_b(2, 3, 4, 5), _b(2, 3, 6, 5, seed=1), _b(2, 3, 6, 5, seed=2))),
    "nn_ops": (nn_ops, (_b(2, 3, 5, 5), _b(4, 3, 3, 3, seed=3) * 0.3, _b(4, 2, 3, 3, seed=4) * 0.3,
                        _b(10, seed=5))),
    "lists_and_loops": (lists_and_loops, (_b(3, 4), 3)),
}


class OpsTest(harness.unittest.TestCase):
    pass


def _add(name, fn, args):
    def test(self):
        ts = torch.jit.script(fn)
        with torch.no_grad():
            y = fn(*args)
        r = switchyard_torch.export(ts, args, out=os.path.join(harness.scratch("ops"), f"{name}.sy"))
        inputs = {}
        for (pname, _), a in zip(r.inputs, args):
            inputs[pname] = harness.to_numpy(torch.as_tensor(a))
        for backend in harness.backends():
            with self.subTest(backend=backend):
                harness.check_run(self, r.program, inputs, {"output": harness.to_numpy(y)}, backend)
    test.__name__ = f"test_{name}"
    setattr(OpsTest, test.__name__, test)


for _name, (_fn, _args) in CASES.items():
    _add(_name, _fn, _args)


if __name__ == "__main__":
    harness.main()
