/**
 * Minimal ZIP reader (central directory + stored/deflate entries), enough to unpack a Python wheel.
 * Node has no built-in unzip and the corpus download is the only user, so a dependency is not worth it.
 */
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry { name: string; data(): Uint8Array }

const EOCD_SIG = 0x06054b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

export function readZipEntries(zip: Uint8Array): ZipEntry[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // The end-of-central-directory record sits in the last 22 + (up to 65535 comment) bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD_SIG) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('not a zip file: no end-of-central-directory record');
  const count = view.getUint16(eocd + 10, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new Error('zip64 archives are not supported');
  const decoder = new TextDecoder();
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > zip.length || view.getUint32(p, true) !== CDIR_SIG) throw new Error(`corrupt zip: bad central directory entry ${n}`);
    const method = view.getUint16(p + 10, true);
    const compSize = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const localOffset = view.getUint32(p + 42, true);
    const name = decoder.decode(zip.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    entries.push({
      name,
      data(): Uint8Array {
        if (view.getUint32(localOffset, true) !== LOCAL_SIG) throw new Error(`corrupt zip: bad local header for ${name}`);
        const start = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
        const raw = zip.subarray(start, start + compSize);
        if (method === 0) return raw;
        if (method !== 8) throw new Error(`zip entry ${name}: unsupported compression method ${method}`);
        const out = inflateRawSync(raw);
        if (out.length !== size) throw new Error(`zip entry ${name}: inflated to ${out.length} bytes, expected ${size}`);
        return out;
      },
    });
  }
  return entries;
}
