#!/usr/bin/python3
"""Prints what an engine checkpoint holds, reading it with h5py alone (no engine code): the
format attributes, the layer names in order (attribute layer_names of /model), every
parameter with its shape and dtype, the optimizer's state, the generator and the metadata.

    /usr/bin/python3 scripts/checkpoint_info.py run.h5

Needs Debian's python3-h5py.
"""
import json
import sys

import h5py


def text(value):
    """h5py 3 gives str for variable-length strings, h5py 2 bytes."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def main(path):
    with h5py.File(path, "r") as f:
        print(f"{path}: format {text(f.attrs['format'])} version {int(f.attrs['version'])}, "
              f"engine {text(f.attrs['engine_version'])}, created {text(f.attrs['created'])}")
        if "model" in f:
            model = f["model"]
            names = [text(n) for n in model.attrs["layer_names"]]
            print(f"layer_names: {', '.join(names)}")
            config = json.loads(text(model.attrs["model_config"]))
            print(f"model_config: {config['kind']}, {config['dtype']}, "
                  f"{len(config['layers'])} layers")
            for name in names:
                group = model[name]
                kind = text(group.attrs["kind"])
                params = [f"{p} {list(d.shape)} {d.dtype}" for p, d in group.items()]
                print(f"  {name} ({kind})" + (": " + ", ".join(params) if params else ""))
        if "optimizer" in f:
            opt = f["optimizer"]
            hyper = {k: v for k, v in opt.attrs.items()
                     if k not in ("kind", "steps", "param_names", "slot_names", "attrs_crc32")}
            print(f"optimizer: {text(opt.attrs['kind'])}, {int(opt.attrs['steps'])} steps, "
                  + ", ".join(f"{k}={float(v):g}" for k, v in hyper.items()))

            def slot(name, obj):
                if isinstance(obj, h5py.Dataset):
                    print(f"  {name} {list(obj.shape)} {obj.dtype}")
            opt.visititems(slot)
        if "rng" in f:
            print(f"rng: {text(f['rng'].attrs['algorithm'])} state {list(f['rng/global'][()])}")
        if "meta" in f:
            def show(group, prefix):
                for k, v in group.attrs.items():
                    if k == "attrs_crc32":  # the checksum of the other attributes
                        continue
                    print(f"  {prefix}{k} = {text(v) if isinstance(v, (str, bytes)) else v}")
                for k, sub in group.items():
                    show(sub, f"{prefix}{k}.")
            print("meta:")
            show(f["meta"], "")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
