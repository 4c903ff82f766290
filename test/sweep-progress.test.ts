// Progress lines and the ETA are pure functions of the trial views and the clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { estimateEta, fraction, fmtDuration, overallLine, trialLine, type TrialView } from '../src/sweep/progress.js';

const now = 1_000_000;
const v = (x: Partial<TrialView>): TrialView => ({ index: 0, name: 't', state: 'queued', ...x });

describe('progress', () => {
  test('training fraction counts epochs (progress restarts every epoch)', () => {
    assert.equal(fraction(v({ state: 'running', stage: 'train', done: 50, total: 100 })), 0.5);
    assert.equal(fraction(v({ state: 'running', stage: 'train', done: 50, total: 100, epochs: 4, epoch: 2 })), 2.5 / 4);
    assert.equal(fraction(v({ state: 'running', stage: 'preprocess', done: 50, total: 100 })), undefined);
  });

  const cases: { name: string; trials: Partial<TrialView>[]; jobs: number; eta: number | undefined }[] = [
    { name: 'nothing to go on', trials: [{ state: 'queued' }, { state: 'running', startedAt: now - 5000 }], jobs: 2, eta: undefined },
    { name: 'all ended', trials: [{ state: 'done', seconds: 10 }], jobs: 2, eta: 0 },
    // 2 queued × 60 s, spread over 2 jobs.
    { name: 'from ended trials', trials: [{ state: 'done', seconds: 60 }, { state: 'queued' }, { state: 'queued' }], jobs: 2, eta: 60 },
    // A running trial 25% through after 30 s projects 120 s: 90 s left; 1 queued at 120 s → (90+120)/2.
    { name: 'from a running trial', trials: [{ state: 'running', stage: 'train', done: 1, total: 4, startedAt: now - 30_000 }, { state: 'queued' }], jobs: 2, eta: 105 },
    // Never less than the longest running remainder.
    { name: 'one long straggler', trials: [{ state: 'done', seconds: 10 }, { state: 'running', stage: 'train', done: 1, total: 10, startedAt: now - 10_000 }], jobs: 4, eta: 90 },
  ];
  for (const c of cases) {
    test(`ETA: ${c.name}`, () => {
      const eta = estimateEta(c.trials.map((t, i) => v({ index: i, ...t })), c.jobs, now);
      if (c.eta === undefined) assert.equal(eta, undefined);
      else assert.ok(eta !== undefined && Math.abs(eta - c.eta) < 1e-9, `${eta} vs ${c.eta}`);
    });
  }

  test('one line per trial: queued, running with its progress, done with its metric', () => {
    assert.equal(trialLine(v({ index: 2, name: 'crop=border' }), 9, 'val_accuracy', 12, now), '[3/9] crop=border   queued');
    assert.match(trialLine(v({ state: 'running', stage: 'train', done: 240, total: 480, unit: 'samples', epochs: 4, epoch: 1, startedAt: now - 65_000 }), 9, 'val_accuracy', 4, now), /running +train epoch 2\/4 240\/480 samples 37% +1:05$/);
    assert.match(trialLine(v({ state: 'done', metric: 0.8125, seconds: 70 }), 9, 'val_accuracy', 4, now), /done +val_accuracy=0\.8125 +1:10$/);
    assert.match(trialLine(v({ state: 'failed', error: 'exited with code 1: boom\nmore', seconds: 3 }), 9, 'val_accuracy', 4, now), /FAILED +exited with code 1: boom +0:03$/);
    assert.match(overallLine([v({ state: 'done', seconds: 60 }), v({ state: 'queued' }), v({ state: 'failed', seconds: 5 })], 1, now - 65_000, now), /^sweep: 1\/3 done, 1 failed, 1 queued · elapsed 1:05 · ETA 0:33$/);
    assert.equal(fmtDuration(3725), '1:02:05');
  });
});
