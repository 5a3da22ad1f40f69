/**
 * The legacy torch.save format (before PyTorch 1.6, and still what pickling a tensor's storage writes): five
 * things one after another, all little-endian -
 *   1. a pickle of the magic number 0x1950a86a20f9469cfc6c,
 *   2. a pickle of the protocol version 1001,
 *   3. a pickle of the sys info dict {protocol_version, little_endian, type_sizes},
 *   4. the pickled object, each storage a persistent id ('storage', torch.FloatStorage, key, location, numel, view),
 *   5. a pickle of the list of storage keys, then per key an int64 element count and the raw elements.
 * Read with the restricted unpickler, every count checked against the bytes left, as the zip reader does.
 */
import { ModelFileError } from './errors.ts';
import { PickleDict, type PickleGlobal, describe, unpickleAt } from './pickle.ts';
import { quoteName } from './safetensors.ts';
import { RESAVE_FIX, Storage, isIndex, storageTypeOf } from './torch-tensors.ts';

export const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

export const isLegacyTorch = (bytes: Uint8Array): boolean => LEGACY_MAGIC.every((b, i) => bytes[i] === b);

export interface LegacyOptions {
  globals: ReadonlyMap<string, PickleGlobal>;
  unknownGlobal: (qualifiedName: string) => never;
  /** How the bytes are named in messages, e.g. "a storage of the snapshot". */
  what: string;
  /** The fix a refusal suggests (default: save the file again with torch.save). */
  fix?: string;
}

/** The object of a legacy torch.save file, its storages bound to their bytes. */
export function readLegacyTorch(bytes: Uint8Array, fileName: string, options: LegacyOptions): unknown {
  const fix = options.fix ?? RESAVE_FIX;
  const fail = (problem: string): never => { throw new ModelFileError(fileName, `${options.what}: ${problem}`, fix); };
  const plain = { globals: new Map(), unknownGlobal: options.unknownGlobal, persistentLoad: () => fail('a persistent id in the file header'), fix };
  const header = (start: number, what: string) => unpickleAt(bytes, start, fileName, { ...plain, pickleName: `${options.what}, ${what}` });

  const magic = header(0, 'magic number');
  if (magic.value !== MAGIC_NUMBER) fail(`the magic number is ${describe(magic.value)}, not that of torch.save`);
  const version = header(magic.end, 'protocol version');
  if (version.value !== PROTOCOL_VERSION) fail(`protocol version ${describe(version.value)} is not read (only ${PROTOCOL_VERSION})`);
  const sysInfo = header(version.end, 'sys info');
  if (!(sysInfo.value instanceof PickleDict) || sysInfo.value.items.get('little_endian') !== true) {
    fail('the sys info does not say little_endian=True; only files saved on little-endian machines are read');
  }

  const storages = new Map<string, { storage: Storage; bytes?: Uint8Array }>();
  const body = unpickleAt(bytes, sysInfo.end, fileName, {
    globals: options.globals,
    unknownGlobal: options.unknownGlobal,
    pickleName: options.what,
    fix,
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid.length !== 6 || pid[0] !== 'storage') return fail(`a persistent id is ${describe(pid)} instead of ('storage', type, key, location, numel, view)`);
      const [, type, key, , numel, view] = pid;
      const info = storageTypeOf(type);
      if (!info) return fail(`a storage has type ${describe(type)} instead of a torch storage type`);
      if (typeof key !== 'string' || !isIndex(numel)) return fail(`a storage has key ${describe(key)} and size ${describe(numel)}`);
      if (view !== null) return fail(`storage ${quoteName(key)} is a view into another (${describe(view)}), which is not read`);
      const known = storages.get(key);
      if (known) {
        if (known.storage.numel !== numel || known.storage.dtype !== info.dtype) fail(`storage ${quoteName(key)} is named twice with different types or sizes`);
        return known.storage;
      }
      const entry: { storage: Storage; bytes?: Uint8Array } = {
        storage: new Storage(info.dtype, info.itemSize, numel, () => entry.bytes ?? fail(`storage ${quoteName(key)} has no data`)),
      };
      storages.set(key, entry);
      return entry.storage;
    },
  });

  const keyList = header(body.end, 'storage keys');
  const keys = keyList.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) return fail(`the storage keys are ${describe(keys)} instead of a list of strings`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keyList.end;
  for (const key of keys as string[]) {
    const entry = storages.get(key);
    if (!entry) return fail(`the data of storage ${quoteName(key)} is stored, but no tensor names it`);
    if (entry.bytes) return fail(`the data of storage ${quoteName(key)} is stored twice`);
    if (bytes.length - pos < 8) return fail(`the file ends before the size of storage ${quoteName(key)}`);
    const count = view.getBigInt64(pos, true);
    pos += 8;
    const { numel, itemSize, dtype } = entry.storage;
    if (count !== BigInt(numel)) fail(`storage ${quoteName(key)} should hold ${numel} ${dtype} values but its data says ${count}`);
    const size = numel * itemSize;
    if (size > bytes.length - pos) fail(`storage ${quoteName(key)} needs ${size} bytes but ${bytes.length - pos} are left`);
    entry.bytes = bytes.subarray(pos, pos + size);
    pos += size;
  }
  for (const [key, entry] of storages) if (!entry.bytes) fail(`storage ${quoteName(key)} is named by a tensor but its data is not stored`);
  if (pos !== bytes.length) fail(`${bytes.length - pos} bytes follow the last storage`);
  return body.value;
}
