// Signals sent to the pid that started ablate must reach ablate. `npx ablate …` and `npm run …`
// start it through `<script-shell> -c '<command>'`, and npm forwards SIGINT/SIGTERM only to that
// shell. With bash as the script shell (the repo's .npmrc) the shell execs the command, so npm's
// child is ablate and nothing is needed here. With the default `sh` (dash on Debian) the shell
// stays in between: on SIGINT it waits for its child and only then dies, so a sweep ran all its
// trials; on SIGTERM it dies at once and ablate ran on, orphaned.
//
// No process can read another's signals, but on Linux both leave a trace this watcher polls:
//  - a shell that catches SIGINT while blocked in wait() wakes up to run its handler and sleeps
//    again; that is the only thing that wakes it while its one child runs (apart from SIGCHLD if
//    that child is stopped or continued), and /proc counts it in voluntary_ctxt_switches;
//  - a shell killed by SIGTERM or SIGHUP leaves us reparented: process.ppid changes.
// Each becomes the same signal sent to ourselves, so the verbs' own handlers (runs KILLED,
// checkpoints written) do the rest. Only a shell parent under npm is watched.
const { readFileSync } = require('node:fs');

const SHELLS = new Set(['sh', 'dash', 'bash', 'ash', 'zsh', 'ksh', 'mksh', 'busybox']);

function wakeups(pid) {
  const m = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : -1;
}

/** Starts the watcher when ablate runs under npm with a shell in between; returns whether it did. */
function watchNpmShell({ env = process.env, intervalMs = 200, send = (sig) => process.kill(process.pid, sig) } = {}) {
  if (process.platform !== 'linux' || !(env.npm_lifecycle_event || env.npm_command)) return false;
  const parent = process.ppid;
  let last;
  try {
    if (!SHELLS.has(readFileSync(`/proc/${parent}/comm`, 'utf8').trim())) return false;
    last = wakeups(parent);
  } catch {
    return false;
  }
  const timer = setInterval(() => {
    let now;
    try {
      now = process.ppid === parent ? wakeups(parent) : undefined;
    } catch {
      now = undefined;
    }
    if (now === undefined) {
      clearInterval(timer);
      send('SIGTERM');
    } else if (now !== last) {
      last = now;
      send('SIGINT');
    }
  }, intervalMs);
  timer.unref();
  return true;
}

module.exports = { watchNpmShell };
