/**
 * PyTorch state dicts in and out: the zip files torch.save writes (PyTorch >= 1.6) and the legacy files before
 * them (torch-legacy.ts), read through the
 * restricted unpickler with an allowlist of the few globals a state dict uses, and written so that
 * torch.load(path, weights_only=True) reads them back. Pure TypeScript: runs in browsers and Node.
 *
 * Layout: <archive>/data.pkl (the pickled dict; each tensor's storage is a persistent id
 * ('storage', torch.FloatStorage, key, location, numel)), <archive>/data/<key> (the storage's raw
 * little-endian bytes), <archive>/version, and sometimes <archive>/byteorder and <archive>/.data/serialization_id.
 */
import { ModelFileError } from './errors.ts';
import { PickleDict, describe, unpickle } from './pickle.ts';
import { type NamedTensor, quoteName } from './safetensors.ts';
import { isLegacyTorch, readLegacyTorch } from './torch-legacy.ts';
import {
  LITTLE_ENDIAN_HOST, RESAVE_FIX, STATE_DICT_FIX, Storage, TensorRef, type TorchDType, decodeTensors, isIndex, refuseGlobal, storageTypeOf, torchGlobals,
} from './torch-tensors.ts';
import { isZip, readStoredZip, writeStoredZip, type StoredZip } from './zip.ts';

export type { TorchDType } from './torch-tensors.ts';

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


// Checkpoint keys that hold a state dict, in the order they are taken: EMA weights first.
const EMA_KEYS = ['ema', 'ema_model', 'model_ema', 'ema_state_dict', 'state_dict_ema', 'ema_state'];
const MODEL_KEYS = ['model', 'state_dict', 'net', 'model_state_dict', 'network', 'weights'];
const STRIPPED_PREFIXES = ['module.', 'model.'];


/** True when the bytes start like a zip archive (what torch.save writes since PyTorch 1.6). */
export function isTorchZip(bytes: Uint8Array): boolean {
  return isZip(bytes);
}


export function readTorchStateDict(bytes: Uint8Array, fileName: string): TorchStateDict {
  const fail = (problem: string, fix: string = RESAVE_FIX): never => { throw new ModelFileError(fileName, problem, fix); };
  const globals = torchGlobals(fileName);
  const unknownGlobal = (name: string) => refuseGlobal(name, fail);
  if (isLegacyTorch(bytes)) return stateDictOf(readLegacyTorch(bytes, fileName, { globals, unknownGlobal, what: 'the legacy torch.save file' }), fileName, fail);
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

  const storages = new Map<string, Storage>();
  const root = unpickle(zip.read(pickles[0]), fileName, {
    globals,
    unknownGlobal,
    persistentLoad: (pid) => loadStorage(pid, archive, zip, storages, fail),
    pickleName: pickles[0],
  });
  return stateDictOf(root, fileName, fail);
}

function stateDictOf(root: unknown, fileName: string, fail: (p: string, f?: string) => never): TorchStateDict {
  const [taken, dict] = chooseStateDict(root, fail);
  const [prefix, names] = stripPrefix([...dict.items.keys()] as string[]);
  return { tensors: decodeTensors([...dict.items.values()] as TensorRef[], names, fileName), taken, prefix };
}

function refuseNonZip(bytes: Uint8Array, fail: (p: string, f?: string) => never): never {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) {
    fail('this is a bare Python pickle (a pickled network such as EDM\'s network-snapshot-*.pkl), not a torch.save state dict; pickled code is never run',
      "give an EDM network-snapshot-*.pkl as a model file of its own (it is read as a teacher); for other pickles make a state dict: torch.save(pickle.load(open('net.pkl', 'rb'))['ema'].state_dict(), 'net.pt')");
  }
  return fail(`not a torch.save file: it does not start with a zip signature (starts with ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing'})`,
    "check that this is a .pt file written by torch.save(model.state_dict(), 'model.pt')");
}



/**
 * The storage a persistent id names. The location (a string such as "cpu" or "cuda:0") is not looked at: every
 * storage is read to the host. A storage shared by many tensors (fp16 training leaves every tensor a view into one
 * float32 storage at its own offset) is made, and its bytes read and CRC-checked, once.
 */
function loadStorage(pid: unknown, archive: string, zip: StoredZip, storages: Map<string, Storage>, fail: (p: string) => never): Storage {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') return fail(`a persistent id is ${describe(pid)} instead of ('storage', type, key, location, numel)`);
  const [, type, key, , numel] = pid;
  const info = storageTypeOf(type);
  if (!info) return fail(`a storage has type ${describe(type)} instead of a torch storage type`);
  if (typeof key !== 'string' || !isIndex(numel)) return fail(`a storage has key ${describe(key)} and size ${describe(numel)}`);
  const known = storages.get(key);
  if (known) {
    if (known.numel !== numel || known.dtype !== info.dtype) fail(`storage ${quoteName(key)} is named twice with different types or sizes`);
    return known;
  }
  const entry = `${archive}/data/${key}`;
  const stored = zip.entries.get(entry);
  if (!stored) return fail(`storage ${quoteName(key)} has no zip entry ${quoteName(entry)}`);
  if (stored.size !== numel * info.itemSize) {
    fail(`storage ${quoteName(key)} should hold ${numel} ${info.dtype} values (${numel * info.itemSize} bytes) but its zip entry has ${stored.size} bytes`);
  }
  const storage = new Storage(info.dtype, info.itemSize, numel, () => zip.read(entry)); // CRC-checked on first read
  storages.set(key, storage);
  return storage;
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

/** The 'module.' and 'model.' prefixes every key shares (DataParallel's, EDMPrecond's), and the keys without them. */
export function stripPrefix(keys: string[]): [string, string[]] {
  let prefix = '';
  for (;;) {
    const p = STRIPPED_PREFIXES.find((s) => keys.every((k) => k.startsWith(s) && k.length > s.length));
    if (!p) return [prefix, keys];
    prefix += p;
    keys = keys.map((k) => k.slice(p.length));
  }
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
