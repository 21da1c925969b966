"""Benchmark: training steps (or inference) of the seed CNN, the LeNet-style net or the small
ResNet on Fashion-MNIST in PyTorch (the reference).

    /usr/bin/python3 bench/train_seed_cnn.py [steps] [batch] [dtype] [threads] [net] [mode]

Same network, data, preprocessing, batch and optimizer as bench/train_seed_cnn.lua; batches
are gathered from an in-memory tensor through a random permutation, as the engine does.
Prints one line "torch <net> <mode> <dtype> threads=<n> batch=<b> steps=<s> images_per_s=<x>
cpu_images_per_s=<y>": y counts the process's CPU time (time.process_time) instead of wall time.
"""
import gzip
import sys
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class Residual(nn.Module):
    """y = block(x) + shortcut(x), as the engine's nn.Residual."""

    def __init__(self, block, shortcut):
        super().__init__()
        self.block, self.shortcut = block, shortcut

    def forward(self, x):
        return self.block(x) + self.shortcut(x)


def stage(cin, cout, stride):
    block = nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
    shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                             nn.BatchNorm2d(cout))
    return Residual(block, shortcut)


def resnet():
    """The engine's bench resnet, layer for layer (bench/train_seed_cnn.lua)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        stage(16, 16, 1), nn.ReLU(), stage(16, 32, 2), nn.ReLU(), stage(32, 64, 2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    dtype = sys.argv[3] if len(sys.argv) > 3 else "f32"
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    net = sys.argv[5] if len(sys.argv) > 5 else "seed"
    mode = sys.argv[6] if len(sys.argv) > 6 else "train"
    warmup = 20
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    tdtype = torch.float32 if dtype == "f32" else torch.float64

    images = read_idx(f"{DATA}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz")
    x_all = torch.from_numpy(images.copy()).to(tdtype).div_(255).sub_(0.2860).div_(0.3530)
    x_all = x_all.unsqueeze(1)
    y_all = torch.from_numpy(labels.astype(np.int64))

    if net == "seed":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 14 * 14, 128), nn.ReLU(), nn.Linear(128, 10)).to(tdtype)
    elif net == "resnet":
        model = resnet().to(tdtype)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)).to(tdtype)
    if mode == "infer":
        model.eval()
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    n = x_all.shape[0]
    done, start, cpu_start = 0, None, None
    while done < steps + warmup:
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            if done == warmup:
                start, cpu_start = time.perf_counter(), time.process_time()
            idx = perm[i:i + batch]
            x, y = x_all[idx], y_all[idx]
            if mode == "infer":
                with torch.no_grad():
                    model(x)
            else:
                opt.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                opt.step()
            done += 1
            if done == steps + warmup:
                break
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"torch {net} {mode} {dtype} threads={threads} batch={batch} steps={steps} "
          f"images_per_s={steps * batch / seconds:.1f} "
          f"cpu_images_per_s={steps * batch / cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
