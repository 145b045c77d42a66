/**
 * Stands in for `@kiln/binding` inside the GPU bundles (scripts/gpu/bundle.mjs): the bundles carry no
 * node_modules, so the native addon is loaded from an explicit place, in this order:
 *   1. $KILN_BINDING: path of the `.node` file (or of a napi loader `index.js`);
 *   2. the repo's `packages/binding/index.js` (found walking up from the bundle), which loads the
 *      `kiln.linux-x64-gnu.node` beside it and honours NAPI_RS_NATIVE_LIBRARY_PATH;
 *   3. `require('@kiln/binding')` from the bundle's folder.
 * When none loads, the exports are a stub whose `backends()` lists cpu and cuda as unavailable with the load
 * error as the reason and whose other entry points throw KILN_E_BACKEND_UNAVAILABLE, so the suite can
 * report "skipped: <reason>" instead of dying at start-up. `require` here is the banner's createRequire.
 */
const fs = require('node:fs');
const path = require('node:path');
const url = require('node:url');

function bundleDir() {
  // The banner defines __kilnBundleUrl (import.meta.url of the bundle).
  return path.dirname(url.fileURLToPath(__kilnBundleUrl));
}

function load() {
  const errors = [];
  const explicit = process.env.KILN_BINDING;
  if (explicit) {
    try {
      return require(path.resolve(explicit));
    } catch (e) {
      // An explicit path that fails is the answer: falling back would hide which addon was meant.
      throw new Error(`KILN_BINDING=${explicit} failed to load: ${e && e.message}`);
    }
  }
  for (let dir = bundleDir(); ; dir = path.dirname(dir)) {
    const loader = path.join(dir, 'packages', 'binding', 'index.js');
    if (fs.existsSync(loader)) {
      try {
        return require(loader);
      } catch (e) {
        errors.push(`${loader}: ${e && e.message}`);
      }
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  try {
    return require('@kiln/binding');
  } catch (e) {
    errors.push(`@kiln/binding: ${e && e.message}`);
  }
  throw new Error(`no Kiln native addon found (set KILN_BINDING to the .node file): ${errors.join('; ')}`);
}

function stub(reason) {
  const fail = () => {
    throw Object.assign(new Error(`the Kiln native addon is not loaded: ${reason}`), { code: 'KILN_E_BACKEND_UNAVAILABLE' });
  };
  class Unavailable {
    constructor() { fail(); }
    static load() { return fail(); }
  }
  return {
    __kilnLoadError: reason,
    backends: () => [
      { name: 'cpu', available: false, reason: `native addon not loaded: ${reason}` },
      { name: 'cuda', available: false, reason: `native addon not loaded: ${reason}` },
    ],
    listDevices: fail,
    NativeNetwork: Unavailable,
    NativeEngine: Unavailable,
    NativeContext: Unavailable,
    buildPlan: async () => fail(),
    buildPlanSync: fail,
    buildPlanWithReport: async () => fail(),
    buildPlanWithReportSync: fail,
    readPlanHeader: fail,
  };
}

let binding;
try {
  binding = load();
} catch (e) {
  binding = stub(e && e.message ? e.message.split('\n')[0] : String(e));
}
module.exports = binding;
