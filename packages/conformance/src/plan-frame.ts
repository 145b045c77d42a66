/**
 * Re-framing Kiln plans for the foreign-plan tests: the frame is
 * magic "KILNPLAN" | version u32 | header length u32 | header JSON | body length u64 | body | CRC-32 of all before
 * (`crates/kiln-core/src/plan.rs`, `write_frame`). Editing the header JSON and recomputing lengths and the
 * checksum yields a plan that is intact but claims another device, backend or Kiln version, so loading it
 * must fail with KILN_E_PLAN_MISMATCH, not KILN_E_CORRUPT_PLAN.
 */
const MAGIC = 'KILNPLAN';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE, as crc32fast and zlib compute it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface PlanFrame { version: number; header: string; body: Uint8Array }

/** Splits plan bytes into version, header JSON and body; throws a plain Error when the framing is not a plan's. */
export function splitPlan(plan: Uint8Array): PlanFrame {
  const dv = new DataView(plan.buffer, plan.byteOffset, plan.byteLength);
  if (plan.length < 20 || new TextDecoder().decode(plan.subarray(0, 8)) !== MAGIC) throw new Error('not a Kiln plan (no KILNPLAN magic)');
  const version = dv.getUint32(8, true);
  const headerLen = dv.getUint32(12, true);
  const header = new TextDecoder().decode(plan.subarray(16, 16 + headerLen));
  const bodyLen = Number(dv.getBigUint64(16 + headerLen, true));
  const bodyAt = 24 + headerLen;
  if (bodyAt + bodyLen + 4 !== plan.length) throw new Error(`plan framing: body length ${bodyLen} does not fit the ${plan.length}-byte file`);
  return { version, header, body: plan.subarray(bodyAt, bodyAt + bodyLen) };
}

/** Assembles a plan from its parts, with correct lengths and checksum. */
export function joinPlan(f: PlanFrame): Uint8Array {
  const header = new TextEncoder().encode(f.header);
  const out = new Uint8Array(24 + header.length + f.body.length + 4);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, f.version, true);
  dv.setUint32(12, header.length, true);
  out.set(header, 16);
  dv.setBigUint64(16 + header.length, BigInt(f.body.length), true);
  out.set(f.body, 24 + header.length);
  dv.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** The plan with its header JSON object edited by `edit` (lengths and checksum recomputed). */
export function reframePlan(plan: Uint8Array, edit: (header: Record<string, unknown>) => Record<string, unknown>): Uint8Array {
  const f = splitPlan(plan);
  const header = edit(JSON.parse(f.header) as Record<string, unknown>);
  return joinPlan({ ...f, header: JSON.stringify(header) });
}
