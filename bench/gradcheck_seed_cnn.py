"""Benchmark reference: torch.autograd.gradcheck over every parameter of the seed CNN
(batch 4, float64), the job bench/gradcheck_seed_cnn.lua does in the engine.

    /usr/bin/python3 bench/gradcheck_seed_cnn.py [threads=1] [full|extrapolate]

Prints "torch gradcheck full seconds=<s> cpu=<s> elements=<n> passed=<bool>". With
"extrapolate" (a shared, loaded machine, where the full run would take an hour) it runs
torch.autograd.gradcheck over every tensor but fc1.weight (1,834 elements; fc1.weight held
fixed), and scales its time to all 403,242 elements: gradcheck re-runs the whole function
twice per element whichever tensor the element belongs to, so its time is proportional to the
element count. Prints "torch gradcheck extrapolated seconds=<s> cpu=<s> elements=<n>
measured=<s> over=<n> passed=<bool>".
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

    elements = sum(p.numel() for p in params)
    if len(sys.argv) > 2 and sys.argv[2] == "extrapolate":
        fixed = params[2].detach()
        rest = tuple(p for i, p in enumerate(params) if i != 2)
        part = sum(p.numel() for p in rest)
        start, cpu = time.perf_counter(), time.process_time()
        passed = torch.autograd.gradcheck(
            lambda cw, cb, b1, w2, b2: loss(cw, cb, fixed, b1, w2, b2), rest)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        scale = elements / part
        print(f"torch gradcheck extrapolated seconds={seconds * scale:.2f} "
              f"cpu={cpu * scale:.2f} elements={elements} measured={seconds:.3f} over={part} "
              f"passed={passed}")
        return
    start, cpu = time.perf_counter(), time.process_time()
    passed = torch.autograd.gradcheck(loss, tuple(params))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"torch gradcheck full seconds={seconds:.2f} cpu={cpu:.2f} elements={elements} "
          f"passed={passed}")


if __name__ == "__main__":
    main()
