// A node:test reporter for `npm test`: one line per test file (tests, skips, seconds), and for a
// file that fails, every failure in full followed by what the file printed. TAP printed ~1,700
// lines for a green run and buried the one failure; passing files' output (tfjs's banner, stage
// logs) is noise, a failing file's output is evidence, so only the latter is shown.
// ABLATE_TEST_VERBOSE=1 or `npm test -- --test-reporter=spec` gives node's own reporter instead.
import { relative, resolve } from 'node:path';
import { inspect } from 'node:util';

const rel = (f) => (f ? relative(process.cwd(), f) : '(runner)');

function fileState() {
  return { pass: 0, fail: 0, skip: [], todo: 0, failures: [], output: [], stack: [], done: false, reported: false, complete: undefined };
}

/** An assertion's own error, not the runner's wrapper around it. */
function describeError(err) {
  if (!err) return '';
  const inner = err.failureType === 'testCodeFailure' && err.cause ? err.cause : (err.cause ?? err);
  return inspect(inner, { depth: 6, colors: false });
}

const isFile = (d) => Boolean(d.file) && d.nesting === 0 && resolve(d.name) === resolve(d.file);

export default async function* compact(source) {
  const files = new Map();
  // Events name a file as given on the command line or as an absolute path: one key for both.
  const get = (f) => {
    const k = f ? resolve(f) : '';
    if (!files.has(k)) files.set(k, fileState());
    return files.get(k);
  };
  const totals = { files: 0, pass: 0, fail: 0, skip: 0, failedFiles: [] };
  const t0 = Date.now();
  const finish = function* (file, s, ms, fileError) {
    if (s.done) return;
    s.done = true;
    totals.files++;
    totals.pass += s.pass;
    totals.fail += s.fail;
    totals.skip += s.skip.length;
    // A file can fail with no failing test: it crashed at import or left handles open.
    const failed = s.fail > 0 || (fileError && s.failures.length === 0);
    const secs = ms !== undefined ? `${(ms / 1000).toFixed(1)} s` : '';
    const counts = `${s.pass + s.fail} test${s.pass + s.fail === 1 ? '' : 's'}${s.skip.length ? `, ${s.skip.length} skipped` : ''}${s.fail ? `, ${s.fail} FAILED` : ''}`;
    yield `${failed ? 'FAIL' : 'ok  '} ${rel(file).padEnd(40)} ${counts.padEnd(26)} ${secs}\n`;
    for (const sk of s.skip) yield `       skipped: ${sk}\n`;
    if (!failed) return;
    totals.failedFiles.push(file);
    if (s.failures.length === 0) s.failures.push({ name: `${rel(file)} failed outside any test (a crash at import, or a handle left open): see its output`, error: fileError?.message === 'test failed' ? '' : describeError(fileError) });
  };
  // Failures in full at the end: a file's last output can arrive after its completion event.
  const details = function* (file) {
    const s = get(file);
    yield `\n━━ ${rel(file)}\n`;
    for (const f of s.failures) yield `\n  ✖ ${f.name}\n${f.error.replace(/^/gm, '    ')}\n`;
    if (s.output.length) yield `\n  output of ${rel(file)}:\n${s.output.join('').replace(/^/gm, '  | ')}\n`;
  };
  for await (const e of source) {
    const d = e.data ?? {};
    switch (e.type) {
      case 'test:stdout':
      case 'test:stderr':
        get(d.file).output.push(d.message);
        break;
      case 'test:start': {
        // A file's results are reported after its completion event, one file at a time: once
        // another file's tests start reporting, every earlier file that completed is whole.
        const here = d.file ? resolve(d.file) : '';
        for (const [f, st] of files) if (f && f !== here && st.reported && st.complete && !st.done) yield* finish(f, st, st.complete.ms, st.complete.error);
        const s = get(d.file);
        s.reported = true;
        s.stack[d.nesting] = d.name;
        break;
      }
      case 'test:pass':
      case 'test:fail': {
        if (isFile(d)) break; // the file itself: see test:complete
        const s = get(d.file);
        if (d.details?.type === 'suite' && e.type === 'test:pass') break; // count the tests, not their describe()
        const path = [...s.stack.slice(0, d.nesting), d.name].join(' › ');
        if (d.skip !== undefined) s.skip.push(`${path}${typeof d.skip === 'string' ? `: ${d.skip}` : ''}`);
        else if (d.todo !== undefined) s.todo++;
        else if (e.type === 'test:pass') s.pass++;
        else if (d.details?.error?.failureType !== 'subtestsFailed') {
          s.fail++;
          s.failures.push({ name: `${path}  (${rel(d.file)}:${d.line ?? '?'})`, error: describeError(d.details?.error) });
        }
        break;
      }
      case 'test:complete':
        if (isFile(d)) get(d.file).complete = { ms: d.details?.duration_ms, error: d.details?.passed === false ? d.details.error : undefined };
        break;
      default:
        break;
    }
  }
  for (const [file, s] of files) if (file) yield* finish(file, s, s.complete?.ms, s.complete?.error);
  for (const file of totals.failedFiles) yield* details(file);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  yield `\n${totals.fail || totals.failedFiles.length ? 'FAILED' : 'passed'}: ${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped in ${totals.files} files, ${secs} s\n`;
  if (totals.failedFiles.length) yield `failing files: ${totals.failedFiles.map(rel).join(', ')}\n`;
}
