/**
 * The tensors of a torch.save pickle, whatever holds their bytes (a zip entry, or a legacy file's storage records):
 * the globals a state dict uses, storages named by persistent ids, tensors rebuilt from them with every bound
 * checked, and their values decoded to float32.
 */
import { ModelFileError } from './errors.ts';
import { f16ToF32 } from './float16.ts';
import { PickleDict, PickleGlobal, describe } from './pickle.ts';
import { type NamedTensor, quoteName } from './safetensors.ts';

export type TorchDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const STORAGE_TYPES: Record<string, { dtype: TorchDType; itemSize: number }> = {
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
export const FLOAT_DTYPES = new Set<TorchDType>(['float32', 'float16', 'bfloat16', 'float64']);

/** The dtype and item size of a storage type named in a persistent id (a `torch.FloatStorage` global), if read. */
export function storageTypeOf(type: unknown): { dtype: TorchDType; itemSize: number } | undefined {
  const name = type instanceof PickleGlobal ? type.qualifiedName.replace(/^torch\./, '') : '';
  return Object.hasOwn(STORAGE_TYPES, name) ? STORAGE_TYPES[name] : undefined;
}

export const STATE_DICT_FIX = "save the weights as a state dict: torch.save(model.state_dict(), 'model.pt')";
export const RESAVE_FIX = 'save the file again with torch.save';
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A storage named by a persistent id; its bytes are read (and checked) once, however many tensors share them. */
export class Storage {
  private bytes: Uint8Array | undefined;
  constructor(readonly dtype: TorchDType, readonly itemSize: number, readonly numel: number, private load: () => Uint8Array) {}
  read(): Uint8Array {
    this.bytes ??= this.load();
    return this.bytes;
  }
}

export class TensorRef {
  constructor(readonly storage: Storage, readonly offset: number, readonly size: number[], readonly stride: number[], readonly count: number) {}
}

export function refuseGlobal(name: string, fail: (p: string, f?: string) => never): never {
  const storage = /^torch\.(\w+Storage)$/.exec(name);
  if (storage) {
    fail(`a tensor has storage type ${quoteName(name)}, which is not read (only ${Object.keys(STORAGE_TYPES).join(', ')})`,
      "convert the tensors to float32 before saving: torch.save({k: v.float() for k, v in sd.items()}, 'model.pt')");
  }
  return fail(`the pickle needs the global ${quoteName(name)}, which a state dict never uses (pickled code or objects are never run)`, STATE_DICT_FIX);
}

export const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isIndexTuple = (v: unknown): v is number[] => Array.isArray(v) && v.every(isIndex);

/** The globals a state dict uses; callers add what their files hold besides. */
export function torchGlobals(fileName: string): Map<string, PickleGlobal> {
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


/** The tensors of a dict of TensorRefs under the given names, decoded; a non-finite float is refused. */
export function decodeTensors(refs: TensorRef[], names: string[], fileName: string): Map<string, NamedTensor & { dtype: TorchDType }> {
  const tensors = new Map<string, NamedTensor & { dtype: TorchDType }>();
  refs.forEach((ref, i) => {
    const data = decodeTensor(ref);
    if (FLOAT_DTYPES.has(ref.storage.dtype)) {
      for (let j = 0; j < data.length; j++) {
        if (data[j] - data[j] !== 0) {
          throw new ModelFileError(fileName, `tensor ${quoteName(names[i])} holds ${data[j]} at index ${j}`, 'the weights are corrupt or training diverged; export a checkpoint with finite values');
        }
      }
    }
    tensors.set(names[i], { dtype: ref.storage.dtype, shape: ref.size, data });
  });
  return tensors;
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
