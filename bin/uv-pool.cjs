// The libuv thread pool size ablate starts with (see bin/ablate.js): one worker per core with
// DEFAULT_INFLIGHT images each (src/data/pool/threads.ts, 3), plus two threads for file I/O.
// CommonJS so that the entry stub can use it before anything touches the pool; scripts/test.js
// and the preprocess benchmark start their processes with the same size.
const { availableParallelism } = require('node:os');

const INFLIGHT = 3;

/** The size to use: UV_THREADPOOL_SIZE when the user set it, else one that fits every worker's images. */
function uvPoolSize(env = process.env) {
  if (env.UV_THREADPOOL_SIZE) return env.UV_THREADPOOL_SIZE;
  return String(Math.min(1024, Math.max(4, availableParallelism() * INFLIGHT + 2)));
}

module.exports = { uvPoolSize, INFLIGHT };
