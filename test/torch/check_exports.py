"""Loads the files our writer made with torch.load(weights_only=True) and compares them with what the test
meant to write. Usage: check_exports.py MANIFEST_JSON, where the manifest is
{"files": [{"path", "tensors": {name: {"shape", "f32"}}, "load_into_small": bool}]}.
Prints one JSON line {"ok": true} or {"ok": false, "problems": [...]}."""
import collections
import json
import os
import struct
import sys

import torch

sys.dont_write_bytecode = True  # the tests never write into the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from small_net import Small  # noqa: E402

problems = []
with open(sys.argv[1]) as f:
    manifest = json.load(f)
for entry in manifest['files']:
    path, want = entry['path'], entry['tensors']
    name = os.path.basename(path)
    try:
        state = torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported back to the test
        problems.append('%s: torch.load failed: %s' % (name, e))
        continue
    if type(state) is not collections.OrderedDict:
        problems.append('%s: loaded a %s, not an OrderedDict' % (name, type(state).__name__))
    if list(state.keys()) != list(want.keys()):
        problems.append('%s: names %s, expected %s' % (name, list(state.keys()), list(want.keys())))
    for key, t in state.items():
        w = want.get(key)
        if w is None:
            continue
        if t.dtype != torch.float32 or not t.is_contiguous() or list(t.shape) != w['shape']:
            problems.append('%s: %s is %s %s contiguous=%s, expected float32 %s' % (name, key, t.dtype, list(t.shape), t.is_contiguous(), w['shape']))
            continue
        values = t.flatten().tolist()
        if struct.pack('<%df' % len(values), *values).hex() != w['f32']:
            problems.append('%s: the values of %s differ' % (name, key))
    if entry.get('load_into_small'):
        net = Small()
        try:
            net.load_state_dict(state, strict=True)
            for key, t in net.state_dict().items():
                if not torch.equal(t, state[key]):
                    problems.append('%s: %s changed in load_state_dict' % (name, key))
        except Exception as e:  # noqa: BLE001
            problems.append('%s: load_state_dict(strict=True) failed: %s' % (name, e))
print(json.dumps({'ok': not problems, 'problems': problems}))
