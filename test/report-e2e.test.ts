// End to end: a sweep (fake trials, one failing) → `ablate compare` → files, JSON output, and
// report.html opened in headless Chromium with every plot present and no network request.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'ablate.js');
const CHROMIUM = '/usr/bin/chromium';

describe('ablate compare end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-report-'));
  const store = join(dir, 'runs');
  const out = join(dir, 'report');
  let table = '';

  before(() => {
    const r = spawnSync(
      process.execPath,
      [join(root, 'test', 'fixtures', 'sweep-driver.mjs'), join(root, 'test', 'fixtures', 'sweep-basic', 'grid.sweep.yaml'), `track.uri=${store}`, `cache.dir=${join(dir, 'cache')}`],
      { env: { ...process.env, FAKE_STEPS: '8', FAKE_STEP_MS: '5', FAKE_FAIL_RUN: 'crop=squish,seed=2', DRIVER_JOBS: '2', FAKE_PREPROCESS: '1' }, encoding: 'utf8' },
    );
    // Failing trials make the sweep exit 1; the rest of the sweep still ran.
    assert.equal(r.status, 1, r.stderr);
    const c = spawnSync(process.execPath, [bin, 'compare', '--store', store, '--out', out], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    table = c.stdout;
  });

  test('prints the table grouped by crop, aggregated over seeds, best marked', () => {
    assert.match(table, /★ border/);
    const lines = table.split('\n');
    assert.ok(lines.some((l) => /^\s+center\s/.test(l)));
    // The failing trials are not in the mean: squish has seeds 0 and 1 (seed=2 failed), center none failed.
    assert.match(table, /squish\s+\d\.\d{4} \[\S+, \S+\]\s+2\s/);
    assert.match(table, /report: .*report\.html/);
  });

  test('writes compare.md, compare.csv and the plots as Vega-Lite, SVG and PNG', () => {
    for (const f of ['compare.md', 'compare.csv', 'report.html']) assert.ok(existsSync(join(out, f)), f);
    for (const p of ['metric', 'curves', 'walltime']) {
      const svg = readFileSync(join(out, `${p}.svg`), 'utf8');
      assert.match(svg, /^<svg[^>]*width="\d+"/);
      assert.match(svg, /<text/, `${p}.svg has text`);
      const png = readFileSync(join(out, `${p}.png`));
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      assert.ok(statSync(join(out, `${p}.png`)).size > 5000, `${p}.png is not blank`);
      assert.ok(JSON.parse(readFileSync(join(out, `${p}.vl.json`), 'utf8')).$schema);
    }
    const csv = readFileSync(join(out, 'compare.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 4);
  });

  test('--format json prints the groups for scripts', () => {
    const c = spawnSync(process.execPath, [bin, 'compare', '--store', store, '--out', join(dir, 'json'), '--format', 'json', '--no-png'], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    const groups = JSON.parse(c.stdout) as { group: Record<string, string>; metric: string; mean: number; std: number; n: number; runs: { runId: string }[] }[];
    assert.deepEqual(groups.map((g) => g.group['preprocess.crop']), ['border', 'center', 'squish']);
    assert.deepEqual(groups.map((g) => g.n), [3, 3, 2]);
    assert.ok(groups.every((g) => g.metric === 'val_accuracy' && typeof g.mean === 'number' && g.runs.every((r) => typeof r.runId === 'string')));
    assert.ok(Math.abs(groups[0]!.mean - 0.91) < 1e-9);
  });

  test('--by and an unknown sweep id', () => {
    const c = spawnSync(process.execPath, [bin, 'compare', 'no-such-sweep', '--store', store], { encoding: 'utf8' });
    assert.equal(c.status, 1);
    assert.match(c.stderr, /no sweep or experiment "no-such-sweep".*recent sweeps: grid-/);
    const by = spawnSync(process.execPath, [bin, 'compare', '--store', store, '--by', 'seed', '--format', 'json', '--out', join(dir, 'by')], { encoding: 'utf8' });
    assert.equal(by.status, 0, by.stderr);
    assert.equal((JSON.parse(by.stdout) as unknown[]).length, 3);
  });

  test('report.html opens in headless Chromium with the table, all plots and the spec diffs, offline', async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} not installed (apt-get install chromium; .ci/run does it); never downloading a browser`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      const url = pathToFileURL(join(out, 'report.html')).href;
      await page.goto(url);
      assert.deepEqual(requests, [url], 'the report is one self-contained file');
      assert.deepEqual(errors, []);
      assert.equal(await page.locator('#results tbody tr').count(), 3);
      assert.equal(await page.locator('#results tr.best td').first().textContent(), 'border');
      for (const p of ['metric', 'curves', 'walltime']) {
        const svg = page.locator(`#plot-${p} svg`);
        assert.equal(await svg.count(), 1, `plot ${p}`);
        const box = await svg.boundingBox();
        assert.ok(box && box.width > 200 && box.height > 100, `plot ${p} is drawn (${JSON.stringify(box)})`);
        assert.ok((await page.locator(`#plot-${p} svg text`).count()) > 3, `plot ${p} has labels`);
      }
      assert.equal(await page.locator('#diffs details').count(), 9);
      const first = page.locator('#diffs details').first();
      await first.locator('summary').click();
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
      const diff = await first.locator('table').innerText();
      assert.match(diff, /preprocess\.crop\s+center\s+border/);
      assert.equal(await page.locator('#failures li').count(), 1);

      // The setup block comes first and states what was compared.
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
      const setup = await page.locator('#setup').innerText();
      const top = await page.locator('h2').allTextContents();
      assert.equal(top[0], 'Setup', `first section: ${top.join(', ')}`);
      for (const [label, value] of [
        ['dataset', /shapes .*: 18 images, 12 train \/ 6 validation/],
        ['model', /convnet/],
        ['budget', /\d+ epochs? × batch \d+/],
        ['seeds', /0, 1, 2 \(3 trials per arm\)/],
        ['backend', /fake-trial/],
        ['ablate version', /0\.0\.0-fake/],
        ['what varied', /preprocess\.crop: border, center, squish/],
      ] as const) {
        assert.match(setup, new RegExp(`${label}\\s+${value.source}`), `setup row ${label}:\n${setup}`);
      }
      // One strip per arm, the same five validation images in each (squish lost image 1), drawn.
      const strips = page.locator('#examples figure.strip');
      assert.equal(await strips.count(), 3);
      assert.deepEqual(await strips.evaluateAll((fs) => fs.map((f) => f.getAttribute('data-group'))), ['border', 'center', 'squish']);
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
      assert.match(await page.locator('#examples p.note').first().innerText(), /same 5 validation images.*a\/0\.jpg \(a\), a\/2\.jpg \(a\), b\/3\.jpg \(b\), a\/4\.jpg \(a\), b\/5\.jpg \(b\)/);
      const drawn = await page.locator('#examples img').evaluateAll((imgs) => imgs.map((i) => [(i as unknown as { naturalWidth: number }).naturalWidth, (i as unknown as { naturalHeight: number }).naturalHeight]));
      assert.deepEqual(drawn, [[496, 96], [496, 96], [496, 96]]);
      // The caption's ★ is on the best row; the learning-curve legend shows the line colours.
      // No DOM types in this project: the browser's getComputedStyle, reached through globalThis.
      type Styles = { getComputedStyle(e: unknown, pseudo: string): { content: string } };
      const star = await page.locator('#results tr.best td').first().evaluate((el) => (globalThis as unknown as Styles).getComputedStyle(el, '::before').content);
      assert.equal(star, '"★ "');
      const legend = await page.locator('#plot-curves svg .role-legend-symbol path').evaluateAll((ps) => ps.map((p) => p.getAttribute('fill-opacity') ?? p.getAttribute('opacity') ?? '1'));
      assert.ok(legend.length >= 3 && legend.every((o) => Number(o) === 1), `legend symbols opaque: ${legend.join(',')}`);
      const axisTitles = await page.locator('#plot-curves svg .role-axis-title text').allTextContents();
      assert.ok(axisTitles.includes('epoch'), `curve axis titles: ${axisTitles.join(', ')}`);
      await page.screenshot({ path: join(out, 'report-screenshot.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
