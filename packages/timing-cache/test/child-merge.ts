/** Child process of the concurrency test: merges its own entries into a shared cache file (fake native). */
import { mergeIntoCacheFile, setTimingCacheNative } from '../src/index';
import { fakeNative, makeCache } from './fake-native';

const [file, id, count] = process.argv.slice(2);
setTimingCacheNative(fakeNative);
// Several rounds per process so that the lock is contended, not just taken once.
for (let round = 0; round < 5; round++) {
  const keys = Array.from({ length: Number(count) }, (_, i) => `p${id}-r${round}-k${i}`);
  await mergeIntoCacheFile(file, makeCache(keys));
}
