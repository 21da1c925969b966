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

Containers (nn.Residual, nn.Concat, a Sequential inside a Sequential) become the modules
Residual, Concat and nn.Sequential below, their layers named as in the engine, so that the
keys agree at every depth ("residual_1.shortcut.conv2d_1.weight"). resnet() builds the ResNet
of scripts/resnet_fmnist.lua directly (for benchmarks: import torch_checkpoint).

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


class Residual(nn.Module):
    """The engine's residual container: y = block(x) + shortcut(x), the shortcut the identity
    when absent. The block's layers are the module's own children (state_dict keys
    "residual_1.conv2d_1.weight"); the shortcut's are under "shortcut" ("residual_1.shortcut.
    conv2d_1.weight"), as the engine names them."""

    def __init__(self, block, shortcut=None):
        super().__init__()
        self.body = []
        for name, module in block.items():
            self.add_module(name, module)
            self.body.append(name)
        self.shortcut = shortcut

    def forward(self, x):
        y = x
        for name in self.body:
            y = getattr(self, name)(y)
        return y + (self.shortcut(x) if self.shortcut is not None else x)


class Concat(nn.Module):
    """The engine's concat container: the branches' outputs joined along dim (the engine's
    dim is 1-based); branch k's layers under "branch_k"."""

    def __init__(self, dim, branches):
        super().__init__()
        self.dim = dim - 1 if dim > 0 else dim
        self.names = []
        for k, branch in enumerate(branches):
            self.add_module(f"branch_{k + 1}", branch)
            self.names.append(f"branch_{k + 1}")

    def forward(self, x):
        return torch.cat([getattr(self, n)(x) for n in self.names], dim=self.dim)


def named(entries):
    """An ordered dict name -> module of a list of layer entries of model_config."""
    return collections.OrderedDict((e["name"], build_entry(e)) for e in entries)


def build_entry(entry):
    """The torch module of one entry {"name", "config"[, "children"]} of model_config."""
    kind = entry["config"]["kind"]
    children = entry.get("children", [])
    if kind == "sequential":
        return nn.Sequential(named(children[0]))
    if kind == "residual":
        return Residual(named(children[0]),
                        nn.Sequential(named(children[1])) if len(children) > 1 else None)
    if kind == "concat":
        return Concat(entry["config"]["dim"], [nn.Sequential(named(c)) for c in children])
    return build_layer(entry["config"])


def build_model(path):
    """nn.Sequential of named modules from the checkpoint's model_config: its state_dict keys
    are the engine's parameter names."""
    with h5py.File(path, "r") as f:
        config = json.loads(text(f["model"].attrs["model_config"]))
    model = nn.Sequential(named(config["layers"]))
    return model.double() if config["dtype"] == "f64" else model


def resnet_block(cin, cout, stride):
    """A block of scripts/resnet.lua: conv3x3(stride) - BN - ReLU - conv3x3 - BN plus the
    shortcut (the identity, or conv1x1(stride) - BN where the shape changes)."""
    body = collections.OrderedDict([
        ("conv2d_1", nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)),
        ("batchnorm2d_1", nn.BatchNorm2d(cout)),
        ("relu_1", nn.ReLU()),
        ("conv2d_2", nn.Conv2d(cout, cout, 3, padding=1, bias=False)),
        ("batchnorm2d_2", nn.BatchNorm2d(cout)),
    ])
    if stride == 1 and cin == cout:
        return Residual(body)
    return Residual(body, nn.Sequential(collections.OrderedDict([
        ("conv2d_1", nn.Conv2d(cin, cout, 1, stride=stride, bias=False)),
        ("batchnorm2d_1", nn.BatchNorm2d(cout)),
    ])))


def resnet(widths=(16, 32, 64), strides=(2, 2, 2), in_channels=1, classes=10):
    """The ResNet of scripts/resnet.lua (resnet_fmnist.lua) in torch, its state_dict keys the
    engine's parameter names: an engine checkpoint of it, exported, loads with
    load_state_dict. For benchmarks and checks against the engine."""
    w1, w2, w3 = widths
    s1, s2, s3 = strides
    return nn.Sequential(collections.OrderedDict([
        ("conv2d_1", nn.Conv2d(in_channels, w1, 3, padding=1, bias=False)),
        ("batchnorm2d_1", nn.BatchNorm2d(w1)),
        ("relu_1", nn.ReLU()),
        ("residual_1", resnet_block(w1, w1, s1)),
        ("relu_2", nn.ReLU()),
        ("residual_2", resnet_block(w1, w2, s2)),
        ("relu_3", nn.ReLU()),
        ("residual_3", resnet_block(w2, w3, s3)),
        ("relu_4", nn.ReLU()),
        ("adaptive_avgpool2d_1", nn.AdaptiveAvgPool2d(1)),
        ("flatten_1", nn.Flatten()),
        ("linear_1", nn.Linear(w3, classes)),
    ]))


def batchnorm_paths(entries, prefix=""):
    """The dotted paths ("residual_1.shortcut.batchnorm2d_1") of every batchnorm in a list of
    model_config entries, containers opened."""
    for e in entries:
        kind = e["config"]["kind"]
        if kind in ("batchnorm1d", "batchnorm2d"):
            yield prefix + e["name"]
        for k, child in enumerate(e.get("children", [])):
            sub = {"residual": ["", "shortcut"][k] if k < 2 else "",
                   "concat": f"branch_{k + 1}"}.get(kind, "")
            yield from batchnorm_paths(child, f"{prefix}{e['name']}.{sub + '.' if sub else ''}")


def export(path, out, index_keys=False):
    state = collections.OrderedDict()
    with h5py.File(path, "r") as f:
        config = json.loads(text(f["model"].attrs["model_config"]))
        for i, name in enumerate(layer_names(f)):
            group = f["model"][name]
            for param, data in group.items():
                key = f"{i if index_keys else name}.{param}"
                state[key] = torch.from_numpy(data[()])
                print(f"{name}.{param} -> {key} {list(data.shape)} {data.dtype}")
    # a buffer torch keeps and the engine does not (it only matters for momentum=None, which
    # the engine does not offer), for every batchnorm, inside containers too
    for bn in batchnorm_paths(config["layers"]):
        top, _, rest = bn.partition(".")
        if index_keys:
            top = str([e["name"] for e in config["layers"]].index(top))
        state[f"{top}{'.' + rest if rest else ''}.num_batches_tracked"] = torch.tensor(0)
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
