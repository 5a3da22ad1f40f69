/**
 * EDM's network snapshots (NVlabs/edm training_loop.py: pickle.dump(dict(ema=..., loss_fn=..., augment_pipe=...,
 * dataset_kwargs=...))) read as plain records, without running anything in them. Each module is pickled by
 * torch_utils.persistence as _reconstruct_persistent_obj(meta), meta = {type, version, module_src, class_name,
 * state}: here it becomes a PickledObject of class_name whose attributes are `state` (the module's __dict__:
 * _parameters, _buffers, _modules, _init_kwargs, ...). module_src, the Python source that pickle.load would run,
 * is never looked at. Each tensor's storage is pickled as torch.storage._load_from_bytes(a legacy torch.save of
 * that storage, torch-legacy.ts). Only `ema` is taken; loss_fn, augment_pipe and dataset_kwargs are not used.
 */
import { ModelFileError } from './errors.ts';
import { PickleDict, PickleGlobal, describe, unpickle } from './pickle.ts';
import { type NamedTensor, quoteName } from './safetensors.ts';
import { readLegacyTorch } from './torch-legacy.ts';
import { Storage, TensorRef, type TorchDType, decodeTensors, torchGlobals } from './torch-tensors.ts';

/** A pickled Python object rebuilt as a record: its class name and the attributes its state set. */
export class PickledObject extends PickleDict {
  constructor(readonly className: string) { super(); }
}

export type EdmPrecondClass = 'EDMPrecond' | 'VPPrecond' | 'VEPrecond';
export const EDM_PRECOND_CLASSES: EdmPrecondClass[] = ['EDMPrecond', 'VPPrecond', 'VEPrecond'];
export type EdmNetworkClass = 'SongUNet' | 'DhariwalUNet';
const NETWORK_CLASSES: EdmNetworkClass[] = ['SongUNet', 'DhariwalUNet'];

export type PlainValue = number | string | boolean | null | PlainValue[];

export interface EdmSnapshot {
  precondClass: EdmPrecondClass;
  /** The preconditioning module's attributes that are plain values (sigma_data, beta_d, ...: what its forward uses). */
  precond: Map<string, PlainValue>;
  networkClass: EdmNetworkClass;
  /** The inner network's recorded constructor kwargs (img_resolution, in_channels, model_channels, ...). */
  networkKwargs: Map<string, PlainValue>;
  /** The inner network's state dict, names without the precond's "model." prefix. */
  tensors: Map<string, NamedTensor & { dtype: TorchDType }>;
}

export const SNAPSHOT_PREFIX = 'model.';
const MAX_DEPTH = 64;
const FIX = "give a network-snapshot-*.pkl as EDM's training writes it, or a state dict: torch.save(net.state_dict(), 'net.pt')";

export const isPickle = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;

export function readEdmSnapshot(bytes: Uint8Array, fileName: string): EdmSnapshot {
  const fail = (problem: string, fix = FIX): never => { throw new ModelFileError(fileName, problem, fix); };
  const unknownGlobal = (name: string): never => fail(`the pickle needs the global ${quoteName(name)}, which an EDM network snapshot never holds (nothing in the file is run)`);
  const globals = snapshotGlobals(fileName, unknownGlobal, fail);
  const root = unpickle(bytes, fileName, { globals, unknownGlobal, fix: FIX, persistentLoad: () => fail('the pickle holds a persistent id, which a snapshot written by pickle.dump never does') });
  if (!(root instanceof PickleDict)) return fail(`the pickle holds ${describe(root)}, not the dict of an EDM network snapshot`);
  const ema = root.items.get('ema');
  if (!(ema instanceof PickledObject)) {
    const keys = [...root.items.keys()].slice(0, 8).map((k) => quoteName(String(k))).join(', ');
    return fail(`the pickle holds no 'ema' network (a snapshot's dict has ema, loss_fn, augment_pipe, dataset_kwargs; this one has ${keys || 'no keys'})`);
  }
  if (!(EDM_PRECOND_CLASSES as string[]).includes(ema.className)) {
    fail(`its 'ema' network is an ${quoteName(ema.className)}, which is not read (only ${EDM_PRECOND_CLASSES.join(', ')})`,
      ema.className === 'iDDPMPrecond' ? 'iDDPMPrecond (learned variance, discrete sigmas) has no PID Studio preconditioning; distil an EDM, VP or VE model' : FIX);
  }
  const modules = ema.attributes.get('_modules');
  const model = modules instanceof PickleDict ? modules.items.get('model') : undefined;
  if (!(model instanceof PickledObject)) return fail(`its ${ema.className} has no inner network 'model' (found ${describe(model)})`);
  if (!(NETWORK_CLASSES as string[]).includes(model.className)) fail(`its ${ema.className} wraps a ${quoteName(model.className)}, which is not read (only ${NETWORK_CLASSES.join(', ')})`);

  const all: [string, TensorRef][] = [];
  moduleTensors(ema, '', all, new Set(), fail);
  const outside = all.filter(([n]) => !n.startsWith(SNAPSHOT_PREFIX));
  if (outside.length) fail(`its ${ema.className} holds tensors outside its network (${outside.slice(0, 3).map(([n]) => quoteName(n)).join(', ')})`);
  const refs = all.map(([n, r]): [string, TensorRef] => [n.slice(SNAPSHOT_PREFIX.length), r]);

  const kwargs = model.attributes.get('_init_kwargs');
  const args = model.attributes.get('_init_args');
  if (!(kwargs instanceof PickleDict)) return fail(`its ${model.className} has no recorded init kwargs (found ${describe(kwargs)})`);
  if (args !== undefined && args !== null && !(Array.isArray(args) && args.length === 0)) fail(`its ${model.className} was built with positional arguments (${describe(args)}); EDM builds its networks with keyword arguments only`);
  return {
    precondClass: ema.className as EdmPrecondClass,
    precond: plainEntries(ema.attributes, false, `${ema.className}`, fail),
    networkClass: model.className as EdmNetworkClass,
    networkKwargs: plainEntries(kwargs.items, true, `${model.className} init kwarg`, fail),
    tensors: decodeTensors(refs.map(([, r]) => r), refs.map(([n]) => n), fileName),
  };
}

function snapshotGlobals(fileName: string, unknownGlobal: (name: string) => never, fail: (p: string) => never): Map<string, PickleGlobal> {
  const globals = torchGlobals(fileName);
  const add = (name: string, call: (args: readonly unknown[]) => unknown) => globals.set(name, new PickleGlobal(name, call));
  add('torch_utils.persistence._reconstruct_persistent_obj', (args) => {
    const meta = args[0];
    if (args.length !== 1 || !(meta instanceof PickleDict)) return fail(`_reconstruct_persistent_obj is called with ${describe(meta)} instead of one meta dict`);
    const className = meta.items.get('class_name');
    const state = meta.items.get('state');
    if (meta.items.get('type') !== 'class' || typeof className !== 'string') return fail(`a persistent object's meta has type ${describe(meta.items.get('type'))} and class_name ${describe(className)}`);
    const obj = new PickledObject(className);
    if (state !== null && state !== undefined) obj.build(state, (p) => fail(`the state of a ${className}: ${p}`));
    return obj; // meta's module_src is left as it is: never read, never run
  });
  add('torch.nn.modules.container.ModuleDict', (args) => (args.length === 0 ? new PickledObject('ModuleDict') : fail(`ModuleDict is created with ${args.length} arguments instead of none`)));
  const dtype = (args: readonly unknown[]) => (typeof args[0] === 'string' && args.length === 3 ? new NumpyDType(args[0]) : fail(`numpy.dtype is called with ${describe(args[0])}`));
  const scalar = (args: readonly unknown[]) => numpyScalar(args, fail);
  add('numpy.dtype', dtype);
  add('numpy.core.multiarray.scalar', scalar);
  add('numpy._core.multiarray.scalar', scalar); // numpy 2's name
  add('torch.storage._load_from_bytes', (args) => {
    if (args.length !== 1 || !(args[0] instanceof Uint8Array)) return fail(`_load_from_bytes is called with ${describe(args[0])} instead of bytes`);
    const storage = readLegacyTorch(args[0], fileName, { globals: torchGlobals(fileName), unknownGlobal, what: 'a tensor storage in the snapshot', fix: FIX });
    return storage instanceof Storage ? storage : fail(`a tensor storage in the snapshot holds ${describe(storage)} instead of a storage`);
  });
  return globals;
}

/** numpy.dtype('f8', False, True), whose BUILD state is (3, '<', None, None, None, -1, -1, 0). */
class NumpyDType extends PickleDict {
  order = '|';
  constructor(readonly code: string) { super(); }
  override build(state: unknown, fail: (problem: string) => never): void {
    if (!Array.isArray(state) || typeof state[1] !== 'string') fail(`numpy.dtype('${this.code}') gets the state ${describe(state)}`);
    this.order = (state as string[])[1];
  }
}

const SCALARS: Record<string, [number, (v: DataView) => number | bigint]> = {
  f8: [8, (v) => v.getFloat64(0, true)], f4: [4, (v) => v.getFloat32(0, true)],
  i8: [8, (v) => v.getBigInt64(0, true)], i4: [4, (v) => v.getInt32(0, true)],
};

function numpyScalar(args: readonly unknown[], fail: (p: string) => never): number {
  const [dtype, bytes] = args;
  if (args.length !== 2 || !(dtype instanceof NumpyDType) || !(bytes instanceof Uint8Array)) return fail(`numpy scalar is called with ${describe(dtype)} and ${describe(bytes)}`);
  const kind = Object.hasOwn(SCALARS, dtype.code) ? SCALARS[dtype.code] : undefined;
  if (!kind) return fail(`a numpy scalar has dtype '${dtype.code}', which is not read (only ${Object.keys(SCALARS).join(', ')})`);
  if (dtype.order !== '<' && dtype.order !== '|') return fail(`a numpy scalar has byte order '${dtype.order}'; only little-endian is read`);
  if (bytes.length !== kind[0]) return fail(`a numpy '${dtype.code}' scalar has ${bytes.length} bytes instead of ${kind[0]}`);
  const v = kind[1](new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (typeof v === 'bigint' && (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))) return fail(`a numpy integer ${v} is too large`);
  return Number(v);
}

/** Parameters, then persistent buffers, then each submodule's, as Module.state_dict() names them. */
function moduleTensors(mod: PickledObject, prefix: string, out: [string, TensorRef][], seen: Set<PickledObject>, fail: (p: string) => never): void {
  if (seen.has(mod)) fail(`the module '${prefix || mod.className}' contains itself`);
  if (prefix.split('.').length > MAX_DEPTH) fail(`modules are nested more than ${MAX_DEPTH} deep`);
  seen.add(mod);
  const dict = (key: string): PickleDict => {
    const v = mod.attributes.get(key);
    return v instanceof PickleDict ? v : v === undefined ? new PickleDict() : fail(`the ${mod.className} at '${prefix}' has ${key} ${describe(v)} instead of a dict`);
  };
  const skipped = mod.attributes.get('_non_persistent_buffers_set');
  for (const key of ['_parameters', '_buffers']) {
    for (const [name, t] of dict(key).items) {
      if (typeof name !== 'string') fail(`the ${mod.className} at '${prefix}' names a tensor ${describe(name)}`);
      if (t === null || (key === '_buffers' && skipped instanceof Set && skipped.has(name))) continue;
      if (!(t instanceof TensorRef)) fail(`'${prefix}${name as string}' is ${describe(t)} instead of a tensor`);
      out.push([`${prefix}${name as string}`, t as TensorRef]);
    }
  }
  for (const [name, child] of dict('_modules').items) {
    if (child === null) continue;
    if (typeof name !== 'string' || !(child instanceof PickledObject)) fail(`the submodule ${describe(name)} of '${prefix}' is ${describe(child)}, not a module`);
    moduleTensors(child as PickledObject, `${prefix}${name as string}.`, out, seen, fail);
  }
  seen.delete(mod);
}

function plain(v: unknown, depth = 0): PlainValue | undefined {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v) && depth < 4) {
    const items = v.map((x) => plain(x, depth + 1));
    return items.every((x) => x !== undefined) ? (items as PlainValue[]) : undefined;
  }
  return undefined;
}

/** The entries that are plain values; with `strict`, any other is refused. */
function plainEntries(items: Map<unknown, unknown>, strict: boolean, what: string, fail: (p: string) => never): Map<string, PlainValue> {
  const out = new Map<string, PlainValue>();
  for (const [k, v] of items) {
    const p = plain(v);
    if (typeof k === 'string' && p !== undefined) out.set(k, p);
    else if (strict) fail(`${what} ${describe(k)} is ${describe(v)}, not a number, string, bool or list`);
  }
  return out;
}
