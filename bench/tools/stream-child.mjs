// Library streaming throughput, run as its own process so that the bench measures its peak RSS like any
// other command. Plain JavaScript (no tsx loader in the measured process).
//
//   node bench/tools/stream-child.mjs DIST_CORE_INDEX PIN PATH MODE [SHARDS]
//
// MODE: bytes (PinnedRevision.bytes) or examples (PinnedRevision.examples, parsed). SHARDS > 1 reads the
// shards one after the other (every example exactly once). Prints one JSON line:
// {"bytes":N,"examples":N,"seconds":S,"openSeconds":S}.
import { pathToFileURL } from 'node:url';

const [distIndex, pin, path, mode = 'bytes', shardsArg = '1'] = process.argv.slice(2);
if (!distIndex || !pin || !path) {
  console.error('usage: stream-child.mjs DIST_CORE_INDEX PIN PATH bytes|examples [SHARDS]');
  process.exit(2);
}
const lib = await import(pathToFileURL(distIndex).href);
const t0 = performance.now();
const rev = await lib.open(pin);
const openSeconds = (performance.now() - t0) / 1000;
let bytes = 0;
let examples = 0;
try {
  if (mode === 'bytes') {
    for await (const chunk of rev.bytes(path)) bytes += chunk.length;
  } else {
    const numShards = Number(shardsArg);
    for (let shard = 0; shard < numShards; shard++) {
      for await (const ex of rev.examples(path, { shard, numShards })) {
        examples++;
        if (ex.value === undefined) throw new Error('example without a value');
      }
    }
  }
} finally {
  await rev.close();
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ bytes, examples, seconds, openSeconds }));
