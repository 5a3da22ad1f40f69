"""Writes the torch.save files the TypeScript tests read, plus expected.json with each tensor's
shape, dtype and float32 bytes (hex) as torch itself converts them. Usage: make_fixtures.py OUT_DIR"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

sys.dont_write_bytecode = True  # the tests never write into the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from small_net import Small  # noqa: E402

out = sys.argv[1]
torch.manual_seed(0)
expected = {}


def f32_hex(t):
    values = t.detach().float().flatten().tolist()
    return struct.pack('<%df' % len(values), *values).hex()


def record(name, state, taken, prefix=''):
    expected[name] = {'taken': taken, 'prefix': prefix, 'tensors': {
        k[len(prefix):]: {'shape': list(v.shape), 'dtype': str(v.dtype).replace('torch.', ''), 'f32': f32_hex(v)}
        for k, v in state.items()}}


def save(name, obj):
    torch.save(obj, os.path.join(out, name))


# dtypes, a transposed view, and two tensors sharing one storage (a slice and the whole)
base = torch.randn(6, 5)
dtypes = {
    'f32': torch.randn(3, 4),
    'f16': torch.randn(2, 3).half(),
    'bf16': torch.randn(5).bfloat16(),
    'f64': torch.randn(2, 2, 2, dtype=torch.float64),
    'transposed': torch.randn(3, 4).t(),
    'whole': base,
    'slice': base[2:4, 1:4],
    'scalar': torch.tensor(1.5),
    'empty': torch.zeros(0, 3),
}
save('dtypes.pt', dtypes)
record('dtypes.pt', dtypes, 'state dict')
# the same in the legacy format (before PyTorch 1.6): pickles and raw storages one after another, no zip
torch.save(dtypes, os.path.join(out, 'legacy.pt'), _use_new_zipfile_serialization=False)
record('legacy.pt', dtypes, 'state dict')

# pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL), an nn.Parameter, and integer and bool tensors
others = {
    'param': torch.nn.Parameter(torch.randn(3)),
    'count': torch.tensor(5),
    'mask': torch.tensor([True, False, True]),
    'i32': torch.arange(-2, 2, dtype=torch.int32),
    'u8': torch.tensor([0, 255], dtype=torch.uint8),
}
torch.save(others, os.path.join(out, 'protocol4.pt'), pickle_protocol=4)
record('protocol4.pt', others, 'state dict')

module_state = Small().state_dict()
save('module.pt', module_state)
record('module.pt', module_state, 'state dict')

model, ema = Small(), Small()
opt = torch.optim.Adam(model.parameters())
model(torch.randn(1, 2, 3, 3)).sum().backward()
opt.step()
save('checkpoint.pt', {'model': model.state_dict(), 'ema': ema.state_dict(), 'opt': opt.state_dict(), 'step': 7})
record('checkpoint.pt', ema.state_dict(), 'ema')

parallel = collections.OrderedDict(('module.' + k, v) for k, v in module_state.items())
save('parallel.pt', parallel)
record('parallel.pt', parallel, 'state dict', 'module.')

edm = {'model': collections.OrderedDict(('model.' + k, v) for k, v in Small().state_dict().items())}
save('edm-prefix.pt', edm)
record('edm-prefix.pt', edm['model'], 'model', 'model.')

# hostile and broken files
marker = os.path.join(out, 'MARKER')


class Exploit:
    def __reduce__(self):
        return (os.system, ('touch ' + marker,))


save('exploit.pt', {'w': torch.ones(2), 'x': Exploit()})
save('whole-module.pt', Small())  # pickles the module object: needs small_net.Small
save('unknown-storage.pt', {'w': torch.ones(3)})
with open(os.path.join(out, 'unknown-storage.pt'), 'rb') as f:
    raw = f.read()
with zipfile.ZipFile(io.BytesIO(raw)) as z:
    pkl_name = [n for n in z.namelist() if n.endswith('/data.pkl')][0]
    contents = {n: z.read(n) for n in z.namelist()}
# same length, so the byte patch keeps every other offset in the file valid
contents[pkl_name] = contents[pkl_name].replace(b'torch\nFloatStorage\n', b'torch\nQuantStorage\n')
with zipfile.ZipFile(os.path.join(out, 'unknown-storage.pt'), 'w', zipfile.ZIP_STORED) as z:
    for n, b in contents.items():
        z.writestr(n, b)
with zipfile.ZipFile(os.path.join(out, 'deflated.pt'), 'w', zipfile.ZIP_DEFLATED) as z:
    for n, b in contents.items():
        z.writestr(n, b)
with open(os.path.join(out, 'bare.pkl'), 'wb') as f:
    pickle.dump({'ema': [1, 2, 3], 'augment_pipe': None}, f)

with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump({'expected': expected, 'marker': marker}, f)
