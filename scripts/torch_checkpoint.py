#!/usr/bin/python3
"""Engine checkpoints <-> PyTorch state_dicts, with h5py and torch only (no engine code).

    torch_checkpoint.py export run.h5 model.pt [--index-keys]
        Writes the model's parameters as a state_dict. Keys are the engine's names
        ("conv2d_1.weight"), which are the keys of the torch model that build_model() makes
        (an nn.Sequential of named modules); with --index-keys they are the positions of a
        plain nn.Sequential(*layers) instead ("0.weight", "4.bias", ...).
    torch_checkpoint.py import model.pt template.h5 out.h5
        Writes a checkpoint of template's architecture holding the state_dict's tensors (keys
        of either kind); shapes and dtypes must match. The template's optimizer state is
        dropped (it belongs to other weights); its metadata and generator are kept.
    torch_checkpoint.py evaluate model.pt run.h5 data.h5 split [--scale S] [--mean M] [--std D]
        Builds run.h5's architecture in torch (from its model_config attribute), loads the
        state_dict and prints the mean cross-entropy over a dataset file's split, its samples
        transformed as the engine's batches do: (x * scale - mean) / std.

Layouts need no conversion: the engine stores conv2d weights [out,in,kh,kw] and linear
weights [out,in], as torch does. Needs Debian's python3-h5py and python3-torch.
"""
import collections
import json
import os
import sys
import zlib

import h5py
import numpy
import torch
from torch import nn


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def layer_names(f):
    return [text(n) for n in f["model"].attrs["layer_names"]]


def build_layer(config):
    """The torch module of one layer's config in model_config (format version 2: every
    setting the kind declares is present)."""
    kind = config["kind"]
    pair = tuple
    if kind == "conv2d":
        return nn.Conv2d(config["in_channels"], config["out_channels"],
                         pair(config["kernel_size"]), stride=pair(config["stride"]),
                         padding=pair(config["padding"]), dilation=pair(config["dilation"]),
                         groups=config.get("groups", 1), bias=config["bias"])
    if kind == "linear":
        return nn.Linear(config["in_features"], config["out_features"], bias=config["bias"])
    if kind == "maxpool2d":
        return nn.MaxPool2d(pair(config["kernel_size"]), stride=pair(config["stride"]),
                            padding=pair(config["padding"]))
    if kind == "avgpool2d":
        return nn.AvgPool2d(pair(config["kernel_size"]), stride=pair(config["stride"]),
                            padding=pair(config["padding"]), count_include_pad=True)
    simple = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "flatten": nn.Flatten}
    if kind in simple:
        return simple[kind]()
    if kind == "leaky_relu":
        return nn.LeakyReLU(config["negative_slope"])
    if kind == "dropout":
        return nn.Dropout(config["p"])
    if kind in ("batchnorm1d", "batchnorm2d"):
        cls = nn.BatchNorm1d if kind == "batchnorm1d" else nn.BatchNorm2d
        return cls(config["num_features"], eps=config["eps"], momentum=config["momentum"],
                   affine=config["affine"])
    if kind == "layernorm":
        return nn.LayerNorm(tuple(config["normalized_shape"]), eps=config["eps"],
                            elementwise_affine=config["elementwise_affine"])
    if kind == "gelu":
        return nn.GELU(approximate=config["approximate"])
    if kind in ("softmax", "log_softmax"):
        # the engine's dim is Lua's: 1-based, negative from the end, 0 for PyTorch's None
        d = config["dim"]
        dim = None if d == 0 else d - 1 if d > 0 else d
        return nn.Softmax(dim=dim) if kind == "softmax" else nn.LogSoftmax(dim=dim)
    if kind == "embedding":
        pad = config["padding_idx"]
        return nn.Embedding(config["num_embeddings"], config["embedding_dim"],
                            padding_idx=None if pad == -2**31 else pad)
    if kind == "adaptive_avgpool2d":
        return nn.AdaptiveAvgPool2d(pair(config["output_size"]))
    raise SystemExit(f"layer kind '{kind}' has no torch equivalent here")


def build_model(path):
    """nn.Sequential of named modules from the checkpoint's model_config: its state_dict keys
    are the engine's parameter names."""
    with h5py.File(path, "r") as f:
        config = json.loads(text(f["model"].attrs["model_config"]))
    model = nn.Sequential(collections.OrderedDict(
        (layer["name"], build_layer(layer["config"])) for layer in config["layers"]))
    return model.double() if config["dtype"] == "f64" else model


def export(path, out, index_keys=False):
    state = collections.OrderedDict()
    with h5py.File(path, "r") as f:
        for i, name in enumerate(layer_names(f)):
            group = f["model"][name]
            for param, data in group.items():
                key = f"{i if index_keys else name}.{param}"
                state[key] = torch.from_numpy(data[()])
                print(f"{name}.{param} -> {key} {list(data.shape)} {data.dtype}")
            if text(group.attrs["kind"]) in ("batchnorm1d", "batchnorm2d"):
                # a buffer torch keeps and the engine does not (it only matters for
                # momentum=None, which the engine does not offer)
                state[f"{i if index_keys else name}.num_batches_tracked"] = torch.tensor(0)
    torch.save(state, out)


HEADER_SIZE = 512  # the engine's header: HDF5's user block (engine/io/hdf5_header.c)


def write_header(path):
    """The engine's header: magic, version 1, the file's length and the CRC-32 of the rest.
    (Attributes keep their "attrs_crc32": the engine checksums their values, which h5py copies
    unchanged; a dataset's "crc32" is rewritten below with its data.)"""
    with open(path, "r+b") as f:
        f.seek(HEADER_SIZE)
        rest = f.read()
        header = bytearray(HEADER_SIZE)
        header[0:8] = b"\x89ENG\r\n\x1a\n"
        header[8:12] = (1).to_bytes(4, "little")
        header[16:24] = (HEADER_SIZE + len(rest)).to_bytes(8, "little")
        header[24:28] = zlib.crc32(rest).to_bytes(4, "little")
        header[32:32 + 33] = b"engine file; HDF5 from byte 512\n"
        f.seek(0)
        f.write(header)


def import_(pt, template, out):
    state = torch.load(pt)
    tmp = out + ".tmp"
    with h5py.File(template, "r") as src, h5py.File(tmp, "w", libver=("v108", "latest"),
                                                     track_order=True,
                                                     userblock_size=HEADER_SIZE) as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for part in ("model", "rng", "meta"):
            if part in src:
                src.copy(src[part], dst, name=part)
        for i, name in enumerate(layer_names(src)):
            for param, data in src["model"][name].items():
                tensor = state.pop(f"{name}.{param}", None)
                if tensor is None:
                    tensor = state.pop(f"{i}.{param}", None)
                if tensor is None:
                    raise SystemExit(f"{pt}: no tensor {name}.{param} (or {i}.{param})")
                value = tensor.detach().cpu().numpy()
                if value.shape != data.shape or value.dtype != data.dtype:
                    raise SystemExit(f"{pt}: {name}.{param} is {list(value.shape)} {value.dtype}, "
                                     f"the checkpoint's is {list(data.shape)} {data.dtype}")
                dst["model"][name][param][...] = value
                # the engine's end-to-end check: CRC-32 of the little-endian bytes
                crc = zlib.crc32(value.astype(value.dtype.newbyteorder("<")).tobytes())
                dst["model"][name][param].attrs["crc32"] = numpy.int64(crc)
        for key in [k for k in state if k.endswith(".num_batches_tracked")]:
            del state[key]  # torch's BatchNorm counter: the engine keeps none
        if state:
            raise SystemExit(f"{pt}: tensors not in the architecture: {', '.join(state)}")
    write_header(tmp)
    # The engine's writes are atomic; so is this one.
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)
    print(f"wrote {out}")


def evaluate(pt, path, data_path, split, scale, mean, std):
    model = build_model(path)
    state = torch.load(pt)
    if next(iter(state)).split(".")[0].isdigit():  # --index-keys: positions to names
        names = list(model._modules)
        state = collections.OrderedDict((f"{names[int(k.split('.')[0])]}.{k.split('.', 1)[1]}", v)
                                        for k, v in state.items())
    model.load_state_dict(state)
    model.eval()
    dtype = next(model.parameters()).dtype
    with h5py.File(data_path, "r") as f:
        x = torch.from_numpy(f[split]["x"][()]).to(torch.float64)
        y = torch.from_numpy(f[split]["y"][()]).long()
    # the engine computes (x * scale - mean) / std in double, then rounds to the batch dtype
    x = ((x * scale - mean) / std).to(dtype)
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(x), y)
    print(f"loss {loss.item():.17g} ({len(y)} samples, {dtype})")


def main(argv):
    if len(argv) >= 3 and argv[0] == "export":
        export(argv[1], argv[2], "--index-keys" in argv[3:])
    elif len(argv) == 4 and argv[0] == "import":
        import_(argv[1], argv[2], argv[3])
    elif len(argv) >= 5 and argv[0] == "evaluate":
        opts = {"--scale": 1.0, "--mean": 0.0, "--std": 1.0}
        rest = argv[5:]
        for k, v in zip(rest[::2], rest[1::2]):
            opts[k] = float(v)
        evaluate(argv[1], argv[2], argv[3], argv[4], opts["--scale"], opts["--mean"],
                 opts["--std"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
