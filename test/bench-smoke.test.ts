// The bench is not part of `npm test`, so it could rot unseen: this runs one short round of scenario 3
// (ours vs express-session + passport) through the same code as `npm run bench`, minus CPU pinning.
import { describe, expect, it } from '@jest/globals';
import { runBench } from '../bench/lib/bench.js';
import { type BenchOptions, readOptions } from '../bench/lib/options.js';

describe('bench smoke', () => {
  it('measures scenario 3 end to end: servers, provider, sign-in, load, report', async () => {
    const lines: string[] = [];
    const opts: BenchOptions = {
      ...readOptions({}),
      scenarios: new Set([3]),
      duration: 1,
      rounds: 1,
      warmup: 0.5,
      // Pinning would move this jest worker to CPU 1 for the rest of the suite.
      pin: false,
      resultsFile: null,
      log: (line) => lines.push(line),
    };
    const report = await runBench(opts);

    const samples = report.throughput?.samples ?? {};
    for (const key of ['sess-mem', 'ours-mem']) {
      const [sample] = samples[key] ?? [];
      expect(sample?.rps).toBeGreaterThan(0);
      expect(sample?.requests).toBeGreaterThan(0);
      expect(sample?.p99).toBeGreaterThanOrEqual(0);
      expect(sample?.errors).toBe(0);
      expect(sample?.non2xx).toBe(0);
    }
    expect(report.targets).toContainEqual(expect.objectContaining({ scenario: '3 vs 2', measured: expect.stringMatching(/^\d+\.\d\d×$/) }));
    expect(lines.some((l) => /ours-mem .* req\/s/.test(l))).toBe(true);
    expect(lines.join('\n')).toContain('| 3 vs 2 |');
  }, 45_000);
});
