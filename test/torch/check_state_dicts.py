"""Checks exported state dicts against the file they came from, with real PyTorch.
Usage: check_state_dicts.py MANIFEST_JSON; the manifest is {"pairs": [{"original", "exported", "drop_prefix", "drop"}]}:
the exported file must torch.load(weights_only=True) to the original's names (in any order) (less drop_prefix, less names starting
with one of `drop`) and shapes, and load_state_dict(strict=True) into a module whose parameters are exactly the
original's names and shapes. Prints one JSON line {"ok": true} or {"ok": false, "problems": [...]}."""
import json
import sys

import torch

sys.dont_write_bytecode = True


def module_with(shapes):
    """A torch.nn.Module whose parameters have exactly these dotted names and shapes."""
    root = torch.nn.Module()
    for name, shape in shapes.items():
        *path, leaf = name.split('.')
        m = root
        for part in path:
            if not hasattr(m, part):
                m.add_module(part, torch.nn.Module())
            m = getattr(m, part)
        m.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape)))
    return root


problems = []
with open(sys.argv[1]) as f:
    manifest = json.load(f)
for pair in manifest['pairs']:
    original = torch.load(pair['original'], weights_only=True)
    exported = torch.load(pair['exported'], weights_only=True)
    prefix = pair.get('drop_prefix', '')
    drop = tuple(pair.get('drop', []))
    want = {}
    for key, t in original.items():
        name = key[len(prefix):] if prefix and key.startswith(prefix) else key
        if drop and name.startswith(drop):
            continue
        want[name] = list(t.shape)
    got = {k: list(t.shape) for k, t in exported.items()}
    if set(got) != set(want):  # a state dict's order is not part of it (safetensors files keep names sorted)
        problems.append('%s: names differ: missing %s, unexpected %s' % (pair['exported'], sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5]))
    elif got != want:
        problems.append('%s: shapes differ' % pair['exported'])
    try:
        module_with(want).load_state_dict(exported, strict=True)
    except Exception as e:  # noqa: BLE001
        problems.append('%s: load_state_dict(strict=True) failed: %s' % (pair['exported'], str(e).splitlines()[0]))
print(json.dumps({'ok': not problems, 'problems': problems}))
