/**
 * Per-device bundles: one JSON file `{format, manifest, cache}` with the cache bytes in base64 and a manifest
 * (device, backend, Kiln version, entries, sha256 of the cache bytes, created). JSON rather than tar: one
 * well-defined document that any language can read, and the checksum covers exactly the payload.
 * `installBundle` verifies the checksum, the payload and the device, then places the cache read-only in
 * the system tier.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KilnError } from '@kiln/core';
import { writeFileAtomic } from './files';
import { installedCachePath } from './location';
import { deviceIdOf, deviceIdentity, inspectCache, sameDevice } from './native';

export const BUNDLE_FORMAT = 'kiln-timing-cache-bundle';
export const BUNDLE_VERSION = 1;

export interface BundleManifest {
  device: string;
  deviceInfo: Record<string, unknown>;
  backend: string;
  kilnVersion: string;
  entries: number;
  bytes: number;
  sha256: string;
  created: string;
}

export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  version: number;
  manifest: BundleManifest;
  cache: string;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Wraps a cache into a bundle for `device`; refuses a cache measured on another device. */
export function createBundle(cache: Uint8Array, opts: { device: string; backend?: string; kilnVersion: string; now?: Date }): Bundle {
  const info = inspectCache(cache);
  if (!sameDevice(info, opts.device)) {
    throw new KilnError('KILN_E_CACHE_MISMATCH', `the cache was measured on device '${deviceIdOf(info)}', not '${opts.device}'; bundle the cache of that device`);
  }
  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    manifest: {
      device: opts.device,
      deviceInfo: info.device,
      backend: opts.backend ?? (typeof info.device.backend === 'string' ? info.device.backend : 'cpu'),
      kilnVersion: opts.kilnVersion,
      entries: info.entries,
      bytes: cache.byteLength,
      sha256: sha256(cache),
      created: (opts.now ?? new Date()).toISOString(),
    },
    cache: Buffer.from(cache).toString('base64'),
  };
}

/** Parses and verifies a bundle: format, checksum, readable payload and entry count. */
export function openBundle(text: string, what = 'bundle'): { manifest: BundleManifest; cache: Buffer } {
  let doc: Partial<Bundle>;
  try {
    doc = JSON.parse(text) as Partial<Bundle>;
  } catch (e) {
    throw new KilnError('KILN_E_CORRUPT_CACHE', `${what} is not a timing-cache bundle (invalid JSON: ${(e as Error).message})`);
  }
  if (doc?.format !== BUNDLE_FORMAT || typeof doc.cache !== 'string' || !doc.manifest || typeof doc.manifest.sha256 !== 'string') {
    throw new KilnError('KILN_E_CORRUPT_CACHE', `${what} is not a timing-cache bundle (needs format '${BUNDLE_FORMAT}', manifest and cache)`);
  }
  if (doc.version !== BUNDLE_VERSION) {
    throw new KilnError('KILN_E_UNSUPPORTED', `${what} has bundle version ${String(doc.version)}; this Kiln reads version ${BUNDLE_VERSION}`);
  }
  const cache = Buffer.from(doc.cache, 'base64');
  const digest = sha256(cache);
  if (digest !== doc.manifest.sha256) {
    throw new KilnError('KILN_E_CORRUPT_CACHE', `${what} is damaged: sha256 of the cache is ${digest}, the manifest says ${doc.manifest.sha256}`);
  }
  const info = inspectCache(cache);
  if (info.entries !== doc.manifest.entries) {
    throw new KilnError('KILN_E_CORRUPT_CACHE', `${what} is inconsistent: the cache has ${info.entries} entries, the manifest says ${doc.manifest.entries}`);
  }
  return { manifest: doc.manifest, cache };
}

export interface InstallResult {
  path: string;
  manifest: BundleManifest;
}

/**
 * Installs a bundle into the system tier (read-only file) after verifying it. A bundle for another device
 * is refused unless `ignoreMismatch`.
 */
export function installBundle(file: string, opts: { ignoreMismatch?: boolean } = {}): InstallResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KilnError('KILN_E_INVALID_INPUT', `cannot read bundle '${file}': ${(e as Error).message}`);
  }
  const { manifest, cache } = openBundle(text, `bundle '${file}'`);
  const here = deviceIdentity(manifest.backend);
  const target = installedCachePath(opts.ignoreMismatch ? here : manifest.device);
  if (!sameDevice({ device: { id: manifest.device } }, here) && !opts.ignoreMismatch) {
    throw new KilnError('KILN_E_CACHE_MISMATCH', `bundle '${file}' is for device '${manifest.device}', this machine is '${here}'; pass --ignoreMismatch to install it anyway`);
  }
  writeFileAtomic(target, cache, 0o444);
  writeFileAtomic(`${target}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`, 0o444);
  return { path: target, manifest };
}
