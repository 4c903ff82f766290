"""PyTorch CPU peer of bench:train: the three reference steps of src/backend/reference.ts with the
same layers, optimisers and batch sizes, so step times compare directly with ablate's.

  python3 bench/torch_peer.py THREADS        one JSON line per case (median of 7 timed steps)
  python3 bench/torch_peer.py --serve        reads "CASE THREADS STEPS" lines on stdin, answers
                                             each with one JSON line of that many step times (ms);
                                             bench:train interleaves these with its own columns

Layouts differ (PyTorch is NCHW, tfjs NHWC); shapes, padding and parameter counts match."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def dcgan(batch=64, grid=7, width=64, latent=100):
    side = grid * 4
    g = nn.Sequential(
        nn.Linear(latent, grid * grid * width, bias=False), nn.BatchNorm1d(grid * grid * width), nn.LeakyReLU(0.2),
        nn.Unflatten(1, (width, grid, grid)), nn.Upsample(scale_factor=2),
        nn.Conv2d(width, width // 2, 3, padding=1, bias=False), nn.BatchNorm2d(width // 2), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(width // 2, 1, 3, padding=1), nn.Tanh())
    # 4×4 stride-2 convolutions with padding 1 halve 28 → 14 → 7, as tfjs's 'same' padding does.
    d = nn.Sequential(
        nn.Conv2d(1, width // 2, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width // 2, width, 4, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(width * grid * grid, 1))
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 1, side, side) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step():
        z = torch.randn(batch, latent)
        opt_d.zero_grad()
        loss_d = F.binary_cross_entropy_with_logits(d(real), ones) + F.binary_cross_entropy_with_logits(d(g(z).detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        F.binary_cross_entropy_with_logits(d(g(z)), ones).backward()
        opt_g.step()
    return step


def convnet(batch=64, side=32, widths=(32, 32, 64), hidden=128, classes=10, dropout=0.25):
    m = nn.Sequential(
        nn.Conv2d(3, widths[0], 3, padding=1), nn.ReLU(),
        nn.Conv2d(widths[0], widths[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(widths[1], widths[2], 3, padding=1), nn.ReLU(), nn.BatchNorm2d(widths[2]), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(widths[2] * (side // 4) ** 2, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, classes))
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x = torch.rand(batch, 3, side, side)
    y = torch.randint(0, classes, (batch,))

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    return step


def dense(batch=128, inputs=2048, outputs=300):
    m = nn.Linear(inputs, outputs)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x, y = torch.rand(batch, inputs), torch.rand(batch, outputs)

    def step():
        opt.zero_grad()
        (1 - F.cosine_similarity(m(x), y)).mean().backward()
        opt.step()
    return step


CASES = {"dcgan": dcgan, "convnet": convnet, "dense": dense}
# The names the one-shot mode prints (what bench:train has always read).
LEGACY = {"dcgan": "dcgan_upsample_b64", "convnet": "convnet32_b64", "dense": "dense2048x300_b128"}


def times(step, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main():
    torch.manual_seed(0)
    if sys.argv[1:] == ["--serve"]:
        steps = {}
        print(json.dumps({"ready": True, "torch": torch.__version__, "cores": torch.get_num_threads()}), flush=True)
        for line in sys.stdin:
            name, threads, n = line.split()
            torch.set_num_threads(int(threads))
            if name not in steps:
                steps[name] = CASES[name]()
                times(steps[name], 2)
            print(json.dumps({"case": name, "threads": int(threads), "ms": times(steps[name], int(n))}), flush=True)
        return
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    for name, make in CASES.items():
        step = make()
        times(step, 2)
        ts = sorted(times(step, 7))
        print(json.dumps({"peer": f"pytorch {torch.__version__} cpu", "threads": threads, "case": LEGACY[name], "median_ms": round(ts[len(ts) // 2], 2)}), flush=True)


if __name__ == "__main__":
    main()
