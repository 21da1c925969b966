"""Benchmark reference: torch.autograd.gradcheck over every parameter of the seed CNN
(batch 4, float64), the job bench/gradcheck_seed_cnn.lua does in the engine.

    /usr/bin/python3 bench/gradcheck_seed_cnn.py [threads=1]

Prints "torch gradcheck full seconds=<s> elements=<n> passed=<bool>".
"""
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(1, 16, 5, padding=2).double()
    fc1 = torch.nn.Linear(16 * 14 * 14, 128).double()
    fc2 = torch.nn.Linear(128, 10).double()
    params = [p.detach().clone().requires_grad_(True)
              for p in (conv.weight, conv.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias)]
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([1, 4, 7, 9])

    def loss(cw, cb, w1, b1, w2, b2):
        h = F.max_pool2d(F.relu(F.conv2d(x, cw, cb, padding=2)), 2).flatten(1)
        return F.cross_entropy(F.linear(F.relu(F.linear(h, w1, b1)), w2, b2), y)

    start = time.perf_counter()
    passed = torch.autograd.gradcheck(loss, tuple(params))
    seconds = time.perf_counter() - start
    elements = sum(p.numel() for p in params)
    print(f"torch gradcheck full seconds={seconds:.2f} elements={elements} passed={passed}")


if __name__ == "__main__":
    main()
