/**
 * A bounded reader and a writer of STORED (uncompressed) zip archives, the container torch.save writes.
 * The reader hands out zero-copy views of the file's bytes; every offset and size read from the archive is
 * checked against the file before it is used. Zip64 records (which PyTorch writes even for small files) are read.
 */
import { ModelFileError } from './errors.ts';
import { quoteName } from './safetensors.ts';

export interface ZipEntry { name: string; crc32: number; size: number; dataStart: number }
export interface StoredZip {
  entries: Map<string, ZipEntry>;
  /** The entry's bytes as a view of the file; its CRC-32 is checked on every call. */
  read(name: string): Uint8Array;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
const COPY_FIX = 'copy the whole file again, or save it again with torch.save';

let crcTables: Uint32Array[] | undefined;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Slicing-by-8: eight 256-entry tables let the loop consume two 32-bit words per step. Measured on a 220 MB
// buffer on a shared 2-core machine: 250-400 ms (byte at a time: 350-600 ms), about half of reading a 220 MB
// state dict (~850 ms). Chosen anyway: every entry that is read is checked, tensors included, so a damaged
// download is refused rather than read as wrong weights.
function tables(): Uint32Array[] {
  if (crcTables) return crcTables;
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k][n] = (t[0][t[k - 1][n] & 0xff] ^ (t[k - 1][n] >>> 8)) >>> 0;
  crcTables = t;
  return t;
}

export function crc32(bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables();
  let c = ~0;
  let i = 0;
  const lead = (4 - (bytes.byteOffset % 4)) % 4;
  if (LITTLE_ENDIAN_HOST && bytes.length >= lead + 8) {
    for (; i < lead; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, 2 * Math.floor((bytes.length - i) / 8));
    for (let w = 0; w < words.length; w += 2) {
      const a = words[w] ^ c;
      const b = words[w + 1];
      c = t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24]
        ^ t3[b & 0xff] ^ t2[(b >>> 8) & 0xff] ^ t1[(b >>> 16) & 0xff] ^ t0[b >>> 24];
    }
    i += words.length * 4;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;
}

export function readStoredZip(bytes: Uint8Array, fileName: string): StoredZip {
  const fail = (problem: string, fix = COPY_FIX): never => { throw new ModelFileError(fileName, problem, fix); };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const u16 = (p: number) => view.getUint16(p, true);
  const u32 = (p: number) => view.getUint32(p, true);
  const u64 = (p: number, what: string): number => {
    const v = view.getBigUint64(p, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`zip ${what} ${v} is larger than any file`);
    return Number(v);
  };

  // The end-of-central-directory record sits at the end, after a comment of at most 64 KiB.
  let eocd = -1;
  for (let p = len - EOCD_SIZE; p >= Math.max(0, len - EOCD_SIZE - MAX_COMMENT); p--) {
    if (u32(p) === EOCD_SIG && p + EOCD_SIZE + u16(p + 20) === len) { eocd = p; break; }
  }
  if (eocd < 0) fail(`no zip end-of-central-directory record in the last ${EOCD_SIZE + MAX_COMMENT} bytes (file truncated?)`);

  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0 || u16(eocd + 8) !== count) fail('the zip archive spans several disks; only single-file archives are read');
  let cdLimit = eocd;
  const locator = eocd - 20;
  if (locator >= 0 && u32(locator) === ZIP64_LOCATOR_SIG) {
    const z = u64(locator + 8, 'zip64 record offset');
    if (z + 56 > locator) fail(`zip64 end-of-central-directory record at byte ${z} runs past its locator at byte ${locator}`);
    if (u32(z) !== ZIP64_EOCD_SIG) fail(`no zip64 end-of-central-directory record at byte ${z}`);
    count = u64(z + 32, 'entry count');
    cdSize = u64(z + 40, 'central directory size');
    cdOffset = u64(z + 48, 'central directory offset');
    cdLimit = z;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail('the zip archive needs zip64 records but has none');
  }
  if (cdOffset + cdSize > cdLimit) fail(`zip central directory (bytes ${cdOffset}..${cdOffset + cdSize}) runs past its end record at byte ${cdLimit}`);
  if (count * CENTRAL_SIZE > cdSize) fail(`zip central directory of ${cdSize} bytes cannot hold ${count} entries`);

  const entries = new Map<string, ZipEntry>();
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cdEnd || u32(p) !== CENTRAL_SIG) fail(`zip central directory entry ${i} at byte ${p} is damaged`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let csize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(`zip central directory entry ${i} runs past the central directory`);
    const name = utf8.decode(bytes.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));
    const entryName = `zip entry ${quoteName(name)}`;
    // Zip64 extra field: the 64-bit values of exactly those fields that hold 0xffffffff, in this order.
    for (let e = p + CENTRAL_SIZE + nameLen, extraEnd = e + extraLen; e + 4 <= extraEnd;) {
      const id = u16(e);
      const n = u16(e + 2);
      if (e + 4 + n > extraEnd) fail(`${entryName} has an extra field that runs past its end`);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (what: string): number => {
          if (q + 8 > e + 4 + n) fail(`${entryName} has a zip64 extra field without its ${what}`);
          const v = u64(q, what);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('size');
        if (csize === 0xffffffff) csize = take('compressed size');
        if (local === 0xffffffff) local = take('local header offset');
      }
      e += 4 + n;
    }
    if (flags & 1) fail(`${entryName} is encrypted`, 'save the file again with torch.save');
    if (method !== 0) {
      fail(`${entryName} is compressed (zip method ${method === 8 ? '8, deflate' : method}); torch.save writes uncompressed entries, so the file was re-compressed after saving`,
        'save it again with torch.save, or re-zip it without compression (zip -0)');
    }
    if (csize !== size) fail(`${entryName} is stored but its compressed size ${csize} differs from its size ${size}`);
    if (local + LOCAL_SIZE > cdOffset) fail(`${entryName} has its local header at byte ${local}, past the start of the central directory at byte ${cdOffset}`);
    if (u32(local) !== LOCAL_SIG) fail(`${entryName} has no local header at byte ${local}`);
    if (u16(local + 8) !== method) fail(`${entryName} has a local header whose compression method differs from the central directory's`);
    const localNameLen = u16(local + 26);
    const dataStart = local + LOCAL_SIZE + localNameLen + u16(local + 28);
    if (localNameLen !== nameLen || !sameBytes(bytes, local + LOCAL_SIZE, p + CENTRAL_SIZE, nameLen)) {
      fail(`${entryName} has a local header with a different name`);
    }
    if (dataStart + size > cdOffset) {
      fail(`${entryName} of ${size} bytes at byte ${dataStart} runs past the start of the central directory at byte ${cdOffset} (file truncated or damaged?)`);
    }
    if (entries.has(name)) fail(`${entryName} appears twice in the zip central directory`);
    entries.set(name, { name, crc32: crc, size, dataStart });
    p = next;
  }

  return {
    entries,
    read(name: string): Uint8Array {
      const entry = entries.get(name);
      if (!entry) return fail(`the zip archive has no entry ${quoteName(name)}`);
      const data = bytes.subarray(entry.dataStart, entry.dataStart + entry.size);
      const actual = crc32(data);
      if (actual !== entry.crc32) {
        fail(`zip entry ${quoteName(name)} has CRC-32 ${hex(actual)} but the archive records ${hex(entry.crc32)} (file damaged?)`);
      }
      return data;
    },
  };
}

function sameBytes(bytes: Uint8Array, a: number, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

export const ZIP_ALIGNMENT = 64;
const MAX_ZIP32 = 0xffffffff;
const PAD_FIELD_ID = 0x4246; // "FB", the extra-field id PyTorch uses for its padding

/**
 * A STORED zip whose entries' data each start at a multiple of 64 bytes (padding in the local header's extra
 * field), so a reader can map the tensors in place. No zip64: archives over 4 GiB are refused. An entry's `mode`
 * (Unix permission bits, e.g. 0o755 for a script) is recorded as unzip and Python's zipfile read it.
 */
export function writeStoredZip(entries: { name: string; bytes: Uint8Array; mode?: number }[]): Uint8Array {
  const encoder = new TextEncoder();
  const names = entries.map((e) => encoder.encode(e.name));
  const layout: { local: number; pad: number; crc: number }[] = [];
  let offset = 0;
  entries.forEach((e, i) => {
    if (names[i].length > 0xffff) throw new Error(`writeStoredZip: entry name ${quoteName(e.name)} is too long`);
    const beforePad = offset + LOCAL_SIZE + names[i].length + 4;
    const pad = (ZIP_ALIGNMENT - (beforePad % ZIP_ALIGNMENT)) % ZIP_ALIGNMENT;
    layout.push({ local: offset, pad, crc: crc32(e.bytes) });
    offset = beforePad + pad + e.bytes.length;
  });
  const cdOffset = offset;
  const cdSize = names.reduce((s, n) => s + CENTRAL_SIZE + n.length, 0);
  const total = cdOffset + cdSize + EOCD_SIZE;
  if (total > MAX_ZIP32 || entries.length > 0xfffe) {
    throw new Error(`writeStoredZip: the archive would be ${total} bytes in ${entries.length} entries; at most 4 GiB and 65534 entries are written (no zip64)`);
  }

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const setHeader = (p: number, i: number, sig: number, central: boolean) => {
    let q = p;
    view.setUint32(q, sig, true); q += 4;
    // version made by: 2.0, on Unix where the entry has a mode (then its external attributes hold it)
    if (central) { view.setUint16(q, entries[i].mode !== undefined ? 0x0314 : 20, true); q += 2; }
    view.setUint16(q, 20, true); // version needed: 2.0
    view.setUint16(q + 2, 0x0800, true); // flags: UTF-8 names
    view.setUint16(q + 4, 0, true); // method: stored
    view.setUint32(q + 6, 0x00210000, true); // DOS time 00:00:00, date 1980-01-01
    view.setUint32(q + 10, layout[i].crc, true);
    view.setUint32(q + 14, entries[i].bytes.length, true);
    view.setUint32(q + 18, entries[i].bytes.length, true);
    view.setUint16(q + 22, names[i].length, true);
    view.setUint16(q + 24, central ? 0 : 4 + layout[i].pad, true);
    return q + 26;
  };
  entries.forEach((e, i) => {
    let q = setHeader(layout[i].local, i, LOCAL_SIG, false);
    out.set(names[i], q); q += names[i].length;
    view.setUint16(q, PAD_FIELD_ID, true);
    view.setUint16(q + 2, layout[i].pad, true);
    out.fill(0x5a, q + 4, q + 4 + layout[i].pad);
    out.set(e.bytes, q + 4 + layout[i].pad);
  });
  let p = cdOffset;
  entries.forEach((_, i) => {
    const q = setHeader(p, i, CENTRAL_SIG, true);
    // comment length, disk and internal attributes stay 0; external: a regular file's Unix mode, where one is given
    const mode = entries[i].mode;
    if (mode !== undefined) view.setUint32(q + 6, ((0o100000 | (mode & 0o7777)) << 16) >>> 0, true);
    view.setUint32(q + 10, layout[i].local, true);
    out.set(names[i], q + 14);
    p = q + 14 + names[i].length;
  });
  view.setUint32(p, EOCD_SIG, true);
  view.setUint16(p + 8, entries.length, true);
  view.setUint16(p + 10, entries.length, true);
  view.setUint32(p + 12, cdSize, true);
  view.setUint32(p + 16, cdOffset, true);
  return out;
}
