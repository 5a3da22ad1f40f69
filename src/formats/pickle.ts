/**
 * A restricted unpickler: the stack machine of Python's pickle (protocols 2-5), limited to the opcodes that
 * torch.save's state dicts and checkpoints use. Nothing from the file is ever run: a GLOBAL resolves only to
 * the caller's allowlisted TypeScript functions, which build plain values; any other global is refused.
 * Every length read from the pickle is checked against the bytes left before anything is allocated.
 *
 * Values: None -> null, bool -> boolean, int -> number (bigint past 2^53), float -> number, str -> string,
 * bytes -> Uint8Array, list -> array, tuple -> frozen array, dict -> PickleDict, set -> Set.
 */
import { ModelFileError } from './errors.ts';
import { quoteName } from './safetensors.ts';

export class PickleDict {
  readonly items = new Map<unknown, unknown>();
  /** Attributes set by BUILD (an OrderedDict state dict carries `_metadata` this way). */
  readonly attributes = new Map<string, unknown>();
  /** BUILD: a dict's state is a dict of attributes; an allowlisted object with another state overrides this. */
  build(state: unknown, fail: (problem: string) => never): void {
    if (!(state instanceof PickleDict)) fail(`the pickle sets the state of ${describe(this)} to ${describe(state)}; only a dict's attributes are set`);
    for (const [k, v] of (state as PickleDict).items) {
      if (typeof k !== 'string') fail('the pickle sets an attribute whose name is not a string');
      this.attributes.set(k as string, v);
    }
  }
}

/** An allowlisted global. Without `call` it is a plain value (a storage type named in a persistent id). */
export class PickleGlobal {
  constructor(readonly qualifiedName: string, readonly call?: (args: readonly unknown[]) => unknown) {}
}

export interface UnpickleOptions {
  /** Allowlisted globals by "module.name". */
  globals: ReadonlyMap<string, PickleGlobal>;
  /** Called for a global not in `globals`; it must throw. */
  unknownGlobal: (qualifiedName: string) => never;
  /** Resolves a persistent id (BINPERSID). */
  persistentLoad: (pid: unknown) => unknown;
  /** How the pickle is named in messages, e.g. "archive/data.pkl". */
  pickleName?: string;
  /** The fix a refusal suggests (default: save the file again with torch.save). */
  fix?: string;
}

export const MAX_STACK = 1 << 20;
export const MAX_MEMO = 1 << 22;

const OP = {
  PROTO: 0x80, FRAME: 0x95, STOP: 0x2e, MARK: 0x28, POP: 0x30, POP_MARK: 0x31,
  EMPTY_DICT: 0x7d, EMPTY_LIST: 0x5d, EMPTY_TUPLE: 0x29,
  BINPUT: 0x71, LONG_BINPUT: 0x72, MEMOIZE: 0x94, BINGET: 0x68, LONG_BINGET: 0x6a,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, BINFLOAT: 0x47,
  NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, EMPTY_SET: 0x8f, ADDITEMS: 0x90,
  BINUNICODE: 0x58, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d,
  SHORT_BINBYTES: 0x43, BINBYTES: 0x42, BINBYTES8: 0x8e,
  TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, LIST: 0x6c, DICT: 0x64,
  APPEND: 0x61, APPENDS: 0x65, SETITEM: 0x73, SETITEMS: 0x75,
  GLOBAL: 0x63, STACK_GLOBAL: 0x93, REDUCE: 0x52, BUILD: 0x62, NEWOBJ: 0x81, BINPERSID: 0x51,
} as const;

// Names of the pickle opcodes this reader refuses, so the message can say which one it met.
const REFUSED_NAMES: Record<number, string> = {
  0x49: 'INT', 0x4c: 'LONG', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE',
  0x46: 'FLOAT', 0x50: 'PERSID', 0x67: 'GET', 0x70: 'PUT', 0x69: 'INST', 0x6f: 'OBJ', 0x32: 'DUP',
  0x8b: 'LONG4', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const isTuple = (v: unknown): v is readonly unknown[] => Array.isArray(v) && Object.isFrozen(v);
const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);

/** A short description of a pickled value for messages (never walks into containers). */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PickleDict) return `a dict of ${v.items.size} entries`;
  if (v instanceof PickleGlobal) return `the global '${v.qualifiedName}'`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (v instanceof Set) return `a set of ${v.size}`;
  if (Array.isArray(v)) return `a ${isTuple(v) ? 'tuple' : 'list'} of ${v.length}`;
  if (typeof v === 'string') return `the string ${quoteName(v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

export function unpickle(bytes: Uint8Array, fileName: string, options: UnpickleOptions): unknown {
  return unpickleAt(bytes, 0, fileName, options).value;
}

/** One pickle starting at byte `start` (a legacy torch.save file is several in a row); `end` is the byte after its STOP. */
export function unpickleAt(bytes: Uint8Array, start: number, fileName: string, options: UnpickleOptions): { value: unknown; end: number } {
  const pickleName = options.pickleName ?? 'the pickle';
  const fix = options.fix ?? 'save the file again with torch.save';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  let opStart = start;
  let opName = '';

  const fail = (problem: string): never => { throw new ModelFileError(fileName, `${pickleName}: ${problem} (${opName} at byte ${opStart})`, fix); };
  const need = (n: number) => { if (n > bytes.length - pos) fail(`the pickle ends in the middle of an opcode (${n} bytes needed, ${bytes.length - pos} left)`); };
  const u8 = () => { need(1); return bytes[pos++]; };
  const u16 = () => { need(2); const v = view.getUint16(pos, true); pos += 2; return v; };
  const u32 = () => { need(4); const v = view.getUint32(pos, true); pos += 4; return v; };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`a length of ${v} runs past the end of the pickle`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => { need(n); pos += n; return bytes.subarray(pos - n, pos); };
  const text = (n: number): string => {
    const raw = take(n);
    try { return utf8.decode(raw); } catch { return fail('a string is not valid UTF-8'); }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('a GLOBAL name has no line end');
    const s = text(end - pos);
    pos += 1;
    return s;
  };
  const push = (v: unknown) => {
    if (stack.length >= MAX_STACK) fail(`the pickle stack grows past ${MAX_STACK} items`);
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail('the pickle pops an empty stack');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail('the pickle reads an empty stack');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) return fail('the pickle closes a MARK it never opened');
    return stack.splice(m);
  };
  const put = (i: number) => {
    if (!memo.has(i) && memo.size >= MAX_MEMO) fail(`the pickle memo grows past ${MAX_MEMO} entries`);
    memo.set(i, top());
  };
  const get = (i: number) => {
    if (!memo.has(i)) fail(`the pickle reads memo entry ${i}, which was never stored`);
    push(memo.get(i));
  };
  const global = (module: string, name: string) => {
    const qualified = `${module}.${name}`;
    const g = options.globals.get(qualified);
    push(g ?? options.unknownGlobal(qualified));
  };
  const call = (callable: unknown, args: unknown) => {
    if (!(callable instanceof PickleGlobal) || !callable.call) fail(`the pickle calls ${describe(callable)}, which is not a function`);
    if (!isTuple(args)) fail(`the pickle calls '${(callable as PickleGlobal).qualifiedName}' with ${describe(args)} instead of an argument tuple`);
    push((callable as PickleGlobal).call!(args as readonly unknown[]));
  };
  const setItems = (dict: unknown, kv: unknown[]) => {
    if (!(dict instanceof PickleDict)) fail(`the pickle sets items on ${describe(dict)}, not a dict`);
    if (kv.length % 2) fail('the pickle sets a key without a value');
    for (let i = 0; i < kv.length; i += 2) (dict as PickleDict).items.set(kv[i], kv[i + 1]);
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list) || isTuple(list)) fail(`the pickle appends to ${describe(list)}, not a list`);
    for (const item of items) (list as unknown[]).push(item);
  };
  const long1 = (n: number): number | bigint => {
    const raw = take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (n > 0 && raw[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  while (true) {
    opStart = pos;
    if (pos >= bytes.length) { opName = 'end'; fail('the pickle ends without a STOP opcode (file truncated?)'); }
    const op = bytes[pos++];
    opName = OP_NAMES.get(op) ?? REFUSED_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    switch (op) {
      case OP.PROTO: { const v = u8(); if (v < 2 || v > 5) fail(`pickle protocol ${v} is not read (only 2 to 5)`); break; }
      case OP.FRAME: u64(); break;
      case OP.STOP: return { value: pop(), end: pos };
      case OP.MARK:
        if (marks.length >= MAX_STACK) fail(`the pickle opens more than ${MAX_STACK} MARKs`);
        marks.push(stack.length);
        break;
      case OP.POP: pop(); break;
      case OP.POP_MARK: popMark(); break;
      case OP.EMPTY_DICT: push(new PickleDict()); break;
      case OP.EMPTY_LIST: push([]); break;
      case OP.EMPTY_TUPLE: push(tuple([])); break;
      case OP.BINPUT: put(u8()); break;
      case OP.LONG_BINPUT: put(u32()); break;
      case OP.MEMOIZE: put(memo.size); break;
      case OP.BINGET: get(u8()); break;
      case OP.LONG_BINGET: get(u32()); break;
      case OP.BININT: { const v = u32(); push(v | 0); break; }
      case OP.BININT1: push(u8()); break;
      case OP.BININT2: push(u16()); break;
      case OP.LONG1: push(long1(u8())); break;
      case OP.BINFLOAT: { need(8); push(view.getFloat64(pos, false)); pos += 8; break; }
      case OP.NONE: push(null); break;
      case OP.NEWTRUE: push(true); break;
      case OP.NEWFALSE: push(false); break;
      case OP.EMPTY_SET: push(new Set()); break;
      case OP.ADDITEMS: {
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail(`the pickle adds items to ${describe(set)}, not a set`);
        for (const item of items) (set as Set<unknown>).add(item);
        break;
      }
      case OP.SHORT_BINUNICODE: push(text(u8())); break;
      case OP.BINUNICODE: push(text(u32())); break;
      case OP.BINUNICODE8: push(text(u64())); break;
      case OP.SHORT_BINBYTES: push(take(u8()).slice()); break;
      case OP.BINBYTES: push(take(u32()).slice()); break;
      case OP.BINBYTES8: push(take(u64()).slice()); break;
      case OP.TUPLE: push(tuple(popMark())); break;
      case OP.TUPLE1: { const a = pop(); push(tuple([a])); break; }
      case OP.TUPLE2: { const b = pop(); const a = pop(); push(tuple([a, b])); break; }
      case OP.TUPLE3: { const c = pop(); const b = pop(); const a = pop(); push(tuple([a, b, c])); break; }
      case OP.LIST: push(popMark()); break;
      case OP.DICT: { const d = new PickleDict(); setItems(d, popMark()); push(d); break; }
      case OP.APPEND: { const v = pop(); append(top(), [v]); break; }
      case OP.APPENDS: { const items = popMark(); append(top(), items); break; }
      case OP.SETITEM: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; }
      case OP.SETITEMS: { const kv = popMark(); setItems(top(), kv); break; }
      case OP.GLOBAL: { const module = line(); global(module, line()); break; }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case OP.REDUCE:
      case OP.NEWOBJ: { const args = pop(); call(pop(), args); break; }
      case OP.BUILD: {
        const state = pop();
        const obj = top();
        if (!(obj instanceof PickleDict)) fail(`the pickle sets the state of ${describe(obj)} to ${describe(state)}; only a dict's attributes are set`);
        (obj as PickleDict).build(state, fail);
        break;
      }
      case OP.BINPERSID: push(options.persistentLoad(pop())); break;
      default:
        fail(`the pickle uses opcode ${opName}, which a state dict saved by torch.save never contains`);
    }
  }
}

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]));
