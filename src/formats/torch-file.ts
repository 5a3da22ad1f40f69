/**
 * PyTorch state dicts in and out: the zip files torch.save writes (PyTorch >= 1.6), read through the
 * restricted unpickler with an allowlist of the few globals a state dict uses, and written so that
 * torch.load(path, weights_only=True) reads them back. Pure TypeScript: runs in browsers and Node.
 *
 * Layout: <archive>/data.pkl (the pickled dict; each tensor's storage is a persistent id
 * ('storage', torch.FloatStorage, key, location, numel)), <archive>/data/<key> (the storage's raw
 * little-endian bytes), <archive>/version, and sometimes <archive>/byteorder and <archive>/.data/serialization_id.
 */
import { ModelFileError } from './errors.ts';
import { f16ToF32 } from './float16.ts';
import { PickleDict, PickleGlobal, describe, unpickle } from './pickle.ts';
import { type NamedTensor, quoteName } from './safetensors.ts';
import { isZip, readStoredZip, writeStoredZip, type StoredZip } from './zip.ts';

export type TorchDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/**
 * Integer and bool tensors (e.g. BatchNorm's num_batches_tracked) are read too, as numbers in the Float32Array
 * (exact up to 2^24); `dtype` says what they were, so a caller can drop them.
 */
export interface TorchStateDict {
  tensors: Map<string, NamedTensor & { dtype: TorchDType }>;
  /** Which part of the file the tensors came from: 'state dict' (the whole file), or the checkpoint key ('ema', 'model', ...). */
  taken: string;
  /** The prefix stripped from every key ('' | 'module.' | 'model.' | 'module.model.' ...), so an exporter can put it back. */
  prefix: string;
}

const STORAGE_TYPES: Record<string, { dtype: TorchDType; itemSize: number }> = {
  FloatStorage: { dtype: 'float32', itemSize: 4 },
  HalfStorage: { dtype: 'float16', itemSize: 2 },
  BFloat16Storage: { dtype: 'bfloat16', itemSize: 2 },
  DoubleStorage: { dtype: 'float64', itemSize: 8 },
  LongStorage: { dtype: 'int64', itemSize: 8 },
  IntStorage: { dtype: 'int32', itemSize: 4 },
  ShortStorage: { dtype: 'int16', itemSize: 2 },
  CharStorage: { dtype: 'int8', itemSize: 1 },
  ByteStorage: { dtype: 'uint8', itemSize: 1 },
  BoolStorage: { dtype: 'bool', itemSize: 1 },
};
const FLOAT_DTYPES = new Set<TorchDType>(['float32', 'float16', 'bfloat16', 'float64']);

// Checkpoint keys that hold a state dict, in the order they are taken: EMA weights first.
const EMA_KEYS = ['ema', 'ema_model', 'model_ema', 'ema_state_dict', 'state_dict_ema', 'ema_state'];
const MODEL_KEYS = ['model', 'state_dict', 'net', 'model_state_dict', 'network', 'weights'];
const STRIPPED_PREFIXES = ['module.', 'model.'];

const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const STATE_DICT_FIX = "save the weights as a state dict: torch.save(model.state_dict(), 'model.pt')";
const RESAVE_FIX = 'save the file again with torch.save';

/** True when the bytes start like a zip archive (what torch.save writes since PyTorch 1.6). */
export function isTorchZip(bytes: Uint8Array): boolean {
  return isZip(bytes);
}

class Storage {
  private bytes: Uint8Array | undefined;
  constructor(readonly entry: string, readonly dtype: TorchDType, readonly itemSize: number, readonly numel: number, private zip: StoredZip) {}
  /** The storage's bytes, CRC-checked once however many tensors share them. */
  read(): Uint8Array {
    this.bytes ??= this.zip.read(this.entry);
    return this.bytes;
  }
}

class TensorRef {
  constructor(readonly storage: Storage, readonly offset: number, readonly size: number[], readonly stride: number[], readonly count: number) {}
}

export function readTorchStateDict(bytes: Uint8Array, fileName: string): TorchStateDict {
  const fail = (problem: string, fix: string = RESAVE_FIX): never => { throw new ModelFileError(fileName, problem, fix); };
  if (!isZip(bytes)) refuseNonZip(bytes, fail);

  const zip = readStoredZip(bytes, fileName);
  const pickles = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    fail(pickles.length ? `the zip holds ${pickles.length} data.pkl entries in different folders` : 'the zip archive has no <archive>/data.pkl, so it is not a torch.save file',
      "save the weights with torch.save(model.state_dict(), 'model.pt')");
  }
  const archive = pickles[0].slice(0, -'/data.pkl'.length);
  for (const small of ['version', 'byteorder']) {
    if (zip.entries.has(`${archive}/${small}`)) zip.read(`${archive}/${small}`); // CRC check
  }
  const byteorder = zip.entries.has(`${archive}/byteorder`) ? new TextDecoder().decode(zip.read(`${archive}/byteorder`)).trim() : 'little';
  if (byteorder !== 'little') fail(`the file was saved with byte order ${quoteName(byteorder)}; only little-endian files are read`, 'save it again with torch.save on a little-endian machine (x86, ARM)');

  const root = unpickle(zip.read(pickles[0]), fileName, {
    globals: allowlist(fileName),
    unknownGlobal: (name) => refuseGlobal(name, fail),
    persistentLoad: (pid) => loadStorage(pid, archive, zip, fail),
    pickleName: pickles[0],
  });
  const [taken, dict] = chooseStateDict(root, fail);
  const [prefix, names] = stripPrefix([...dict.items.keys()] as string[]);

  const tensors: TorchStateDict['tensors'] = new Map();
  [...dict.items.values()].forEach((value, i) => {
    const ref = value as TensorRef;
    const data = decodeTensor(ref);
    if (FLOAT_DTYPES.has(ref.storage.dtype)) {
      for (let j = 0; j < data.length; j++) {
        if (data[j] - data[j] !== 0) {
          fail(`tensor ${quoteName(names[i])} holds ${data[j]} at index ${j}`, 'the weights are corrupt or training diverged; export a checkpoint with finite values');
        }
      }
    }
    tensors.set(names[i], { dtype: ref.storage.dtype, shape: ref.size, data });
  });
  return { tensors, taken, prefix };
}

function refuseNonZip(bytes: Uint8Array, fail: (p: string, f?: string) => never): never {
  if (LEGACY_MAGIC.every((b, i) => bytes[i] === b)) {
    fail('this is a legacy torch.save file (the format before PyTorch 1.6), which is not read',
      "re-save it with a PyTorch >= 1.6 torch.save: torch.save(torch.load('old.pt'), 'new.pt')");
  }
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) {
    fail('this is a bare Python pickle (a pickled network such as EDM\'s network-snapshot-*.pkl), not a torch.save state dict; pickled code is never run',
      "in Python with the network's code importable, make a state dict: torch.save(pickle.load(open('network-snapshot.pkl', 'rb'))['ema'].state_dict(), 'edm.pt')");
  }
  return fail(`not a torch.save file: it does not start with a zip signature (starts with ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing'})`,
    "check that this is a .pt file written by torch.save(model.state_dict(), 'model.pt')");
}

function refuseGlobal(name: string, fail: (p: string, f?: string) => never): never {
  const storage = /^torch\.(\w+Storage)$/.exec(name);
  if (storage) {
    fail(`a tensor has storage type ${quoteName(name)}, which is not read (only ${Object.keys(STORAGE_TYPES).join(', ')})`,
      "convert the tensors to float32 before saving: torch.save({k: v.float() for k, v in sd.items()}, 'model.pt')");
  }
  return fail(`the pickle needs the global ${quoteName(name)}, which a state dict never uses (pickled code or objects are never run)`, STATE_DICT_FIX);
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIndexTuple = (v: unknown): v is number[] => Array.isArray(v) && v.every(isIndex);

function allowlist(fileName: string): Map<string, PickleGlobal> {
  const fail = (problem: string): never => { throw new ModelFileError(fileName, problem, RESAVE_FIX); };
  const globals = new Map<string, PickleGlobal>();
  const add = (name: string, call?: (args: readonly unknown[]) => unknown) => globals.set(name, new PickleGlobal(name, call));
  add('collections.OrderedDict', (args) => (args.length === 0 ? new PickleDict() : fail(`collections.OrderedDict is called with ${args.length} arguments instead of none`)));
  add('torch._utils._rebuild_tensor_v2', (args) => rebuildTensor(args, fail));
  const parameter = (argCount: number) => (args: readonly unknown[]) => {
    if (args.length !== argCount || !(args[0] instanceof TensorRef)) fail(`a parameter is rebuilt from ${describe(args[0])} instead of a tensor`);
    return args[0];
  };
  add('torch._utils._rebuild_parameter', parameter(3));
  add('torch._utils._rebuild_parameter_with_state', parameter(4));
  add('torch.device', (args) => (typeof args[0] === 'string' ? args[0] : fail(`torch.device is called with ${describe(args[0])}`)));
  for (const type of Object.keys(STORAGE_TYPES)) add(`torch.${type}`);
  return globals;
}

function loadStorage(pid: unknown, archive: string, zip: StoredZip, fail: (p: string) => never): Storage {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') return fail(`a persistent id is ${describe(pid)} instead of ('storage', type, key, location, numel)`);
  const [, type, key, , numel] = pid;
  const typeName = type instanceof PickleGlobal ? type.qualifiedName.replace(/^torch\./, '') : '';
  const info = Object.hasOwn(STORAGE_TYPES, typeName) ? STORAGE_TYPES[typeName] : undefined;
  if (!info) return fail(`a storage has type ${describe(type)} instead of a torch storage type`);
  if (typeof key !== 'string' || !isIndex(numel)) return fail(`a storage has key ${describe(key)} and size ${describe(numel)}`);
  const entry = `${archive}/data/${key}`;
  const stored = zip.entries.get(entry);
  if (!stored) return fail(`storage ${quoteName(key)} has no zip entry ${quoteName(entry)}`);
  if (stored.size !== numel * info.itemSize) {
    fail(`storage ${quoteName(key)} should hold ${numel} ${info.dtype} values (${numel * info.itemSize} bytes) but its zip entry has ${stored.size} bytes`);
  }
  return new Storage(entry, info.dtype, info.itemSize, numel, zip);
}

function rebuildTensor(args: readonly unknown[], fail: (p: string) => never): TensorRef {
  const [storage, offset, size, stride] = args;
  if (args.length < 6 || args.length > 7 || !(storage instanceof Storage)) return fail(`_rebuild_tensor_v2 is called with ${args.length} arguments starting with ${describe(storage)}`);
  if (!isIndex(offset) || !isIndexTuple(size) || !isIndexTuple(stride) || size.length !== stride.length) {
    return fail(`a tensor has offset ${describe(offset)}, size ${describe(size)} and stride ${describe(stride)}; they must be non-negative integers and as many strides as sizes`);
  }
  let count = 1;
  let last = offset;
  for (let d = 0; d < size.length; d++) {
    count *= size[d];
    if (size[d] > 0) last += (size[d] - 1) * stride[d];
    if (!Number.isSafeInteger(count) || !Number.isSafeInteger(last)) fail(`a tensor of size [${size}] and stride [${stride}] overflows`);
  }
  if (count > 0 && last >= storage.numel) {
    fail(`a tensor of size [${size}], stride [${stride}] at offset ${offset} reaches element ${last} of a storage of ${storage.numel} elements`);
  }
  return new TensorRef(storage, offset, [...size], [...stride], count);
}

function isStateDict(v: unknown): v is PickleDict {
  if (!(v instanceof PickleDict) || v.items.size === 0) return false;
  for (const [k, t] of v.items) if (typeof k !== 'string' || !(t instanceof TensorRef)) return false;
  return true;
}

function chooseStateDict(root: unknown, fail: (p: string, f?: string) => never): [string, PickleDict] {
  if (isStateDict(root)) return ['state dict', root];
  if (!(root instanceof PickleDict)) return fail(`the file holds ${describe(root)}, not a state dict (a dict of tensors)`, STATE_DICT_FIX);
  for (const key of [...EMA_KEYS, ...MODEL_KEYS]) {
    const v = root.items.get(key);
    if (isStateDict(v)) return [key, v];
  }
  const keys = [...root.items.keys()].map((k) => (typeof k === 'string' ? quoteName(k) : String(k)));
  const nested = [...root.items].filter(([, v]) => isStateDict(v)).map(([k]) => quoteName(String(k)));
  const shown = keys.length > 12 ? `${keys.slice(0, 12).join(', ')} and ${keys.length - 12} more` : keys.join(', ') || 'none';
  return fail(`the file holds no state dict: it is a dict with the top-level keys ${shown}${nested.length ? ` (dicts of tensors under ${nested.join(', ')})` : ''}; a dict of tensors is read, or one under ${[...EMA_KEYS, ...MODEL_KEYS].map((k) => `'${k}'`).join(', ')}`,
    nested.length ? `save the one you want as its own file: torch.save(checkpoint[${nested[0]}], 'model.pt')` : STATE_DICT_FIX);
}

function stripPrefix(keys: string[]): [string, string[]] {
  let prefix = '';
  for (;;) {
    const p = STRIPPED_PREFIXES.find((s) => keys.every((k) => k.startsWith(s) && k.length > s.length));
    if (!p) return [prefix, keys];
    prefix += p;
    keys = keys.map((k) => k.slice(p.length));
  }
}

let f16Table: Float32Array | undefined;

/** One element of a storage as a number, for the strided path and the wide or integer dtypes. */
function elementReader(bytes: Uint8Array, dtype: TorchDType): (i: number) => number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32': return (i) => view.getFloat32(4 * i, true);
    case 'float16': {
      const table = (f16Table ??= Float32Array.from({ length: 65536 }, (_, b) => f16ToF32(b)));
      return (i) => table[view.getUint16(2 * i, true)];
    }
    case 'bfloat16': {
      const word = new Float32Array(1);
      const bits = new Uint32Array(word.buffer);
      return (i) => { bits[0] = view.getUint16(2 * i, true) << 16; return word[0]; };
    }
    case 'float64': return (i) => view.getFloat64(8 * i, true);
    case 'int64': return (i) => Number(view.getBigInt64(8 * i, true));
    case 'int32': return (i) => view.getInt32(4 * i, true);
    case 'int16': return (i) => view.getInt16(2 * i, true);
    case 'int8': return (i) => view.getInt8(i);
    case 'uint8': return (i) => bytes[i];
    case 'bool': return (i) => (bytes[i] ? 1 : 0);
  }
}

function decodeTensor(ref: TensorRef): Float32Array {
  const { storage, offset, size, stride, count } = ref;
  const out = new Float32Array(count);
  if (count === 0) return out;
  const bytes = storage.read();
  let contiguous = true;
  for (let d = size.length - 1, expected = 1; d >= 0; expected *= size[d], d--) {
    if (size[d] !== 1 && stride[d] !== expected) contiguous = false;
  }
  if (contiguous && storage.dtype === 'float32' && LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes.subarray(4 * offset, 4 * (offset + count)));
    return out;
  }
  const read = elementReader(bytes, storage.dtype);
  if (contiguous) {
    for (let i = 0; i < count; i++) out[i] = read(offset + i);
    return out;
  }
  // Strided (e.g. a transposed view): walk the indices in row-major order like an odometer.
  const index = new Array<number>(size.length).fill(0);
  let at = offset;
  for (let i = 0; i < count; i++) {
    out[i] = read(at);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++index[d] < size[d]) { at += stride[d]; break; }
      at -= (size[d] - 1) * stride[d];
      index[d] = 0;
    }
  }
  return out;
}

/**
 * A torch.save-style zip of float32 contiguous tensors, one storage each, pickled (protocol 2) as an
 * OrderedDict under exactly these names, which torch.load(path, weights_only=True) reads.
 */
export function writeTorchStateDict(tensors: Map<string, NamedTensor>, archiveName = 'archive'): Uint8Array {
  if (!/^[A-Za-z0-9_.-]+$/.test(archiveName) || archiveName === '.' || archiveName === '..') {
    throw new Error(`writeTorchStateDict: archive name ${quoteName(archiveName)} must be letters, digits, '_', '.', '-'`);
  }
  const p = new PickleWriter();
  p.op(0x80, 2); // PROTO 2
  p.global('collections', 'OrderedDict');
  p.op(0x29, 0x52, 0x28); // EMPTY_TUPLE REDUCE MARK
  const storages: Uint8Array[] = [];
  for (const [name, { shape, data }] of tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (!shape.every(isIndex) || count !== data.length) throw new Error(`writeTorchStateDict: tensor ${quoteName(name)} has shape [${shape}] but ${data.length} values`);
    for (let i = 0; i < data.length; i++) {
      if (data[i] - data[i] !== 0) throw new Error(`writeTorchStateDict: tensor ${quoteName(name)} holds ${data[i]} at index ${i}`);
    }
    const stride = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    p.str(name);
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.op(0x28, 0x28); // MARK (args) MARK (persistent id)
    p.str('storage');
    p.global('torch', 'FloatStorage');
    p.str(String(storages.length));
    p.str('cpu');
    p.int(count);
    p.op(0x74, 0x51); // TUPLE BINPERSID
    p.int(0); // storage offset
    p.tuple(shape);
    p.tuple(stride);
    p.op(0x89); // NEWFALSE: requires_grad
    p.global('collections', 'OrderedDict');
    p.op(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE REDUCE (backward hooks), TUPLE REDUCE (the tensor)
    storages.push(littleEndianBytes(data));
  }
  p.op(0x75, 0x2e); // SETITEMS STOP
  const text = (s: string) => new TextEncoder().encode(s);
  return writeStoredZip([
    { name: `${archiveName}/data.pkl`, bytes: p.bytes() },
    { name: `${archiveName}/byteorder`, bytes: text('little') },
    ...storages.map((bytes, i) => ({ name: `${archiveName}/data/${i}`, bytes })),
    { name: `${archiveName}/version`, bytes: text('3\n') },
  ]);
}

function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(4 * data.length);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

class PickleWriter {
  private chunks: number[] = [];
  private memo = new Map<string, number>();
  op(...codes: number[]): void { for (const c of codes) this.chunks.push(c); }
  private u32(v: number): void { this.op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24); }
  str(s: string): void {
    const utf8 = new TextEncoder().encode(s);
    this.op(0x58); // BINUNICODE
    this.u32(utf8.length);
    for (const b of utf8) this.chunks.push(b);
  }
  int(v: number): void {
    if (v < 0x100) this.op(0x4b, v); // BININT1
    else if (v < 0x10000) this.op(0x4d, v & 0xff, v >>> 8); // BININT2
    else if (v < 2 ** 31) { this.op(0x4a); this.u32(v); } // BININT
    else {
      const le: number[] = [];
      for (let x = BigInt(v); x > 0n; x >>= 8n) le.push(Number(x & 0xffn));
      if (le[le.length - 1] & 0x80) le.push(0);
      this.op(0x8a, le.length, ...le); // LONG1
    }
  }
  tuple(values: number[]): void {
    if (values.length === 0) { this.op(0x29); return; }
    if (values.length > 3) this.op(0x28);
    for (const v of values) this.int(v);
    this.op(values.length > 3 ? 0x74 : [0, 0x85, 0x86, 0x87][values.length]);
  }
  /** GLOBAL the first time, then BINGET of its memo slot. */
  global(module: string, name: string): void {
    const key = `${module}\n${name}\n`;
    const slot = this.memo.get(key);
    if (slot !== undefined) { this.op(0x68, slot); return; }
    this.op(0x63);
    for (const b of new TextEncoder().encode(key)) this.chunks.push(b);
    this.memo.set(key, this.memo.size);
    this.op(0x71, this.memo.size - 1); // BINPUT
  }
  bytes(): Uint8Array { return Uint8Array.from(this.chunks); }
}
