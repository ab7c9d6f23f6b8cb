import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  latencyMs,
  parseH2loadLog,
  parseH2loadSummary,
  percentile,
} from '../../bench/csr-server/h2load-output.js';
import { sumMetric } from '../../bench/csr-server/meshca-target.js';
import { nextSaturationStep, saturatingStep } from '../../bench/csr-server/saturation.js';

// What h2load 1.52 prints after `-D 3 --warm-up-time 1` (abridged): "finished in" includes the
// warm-up, the counts and req/s do not.
const SUMMARY = `starting benchmark...
Warm-up started for thread #0.
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.

finished in 4.00s, 1108.67 req/s, 868.31KB/s
requests: 3326 total, 3326 started, 3326 done, 3300 succeeded, 20 failed, 4 errored, 2 timeout
status codes: 3300 2xx, 0 3xx, 20 4xx, 0 5xx
`;

describe('reading h2load output', () => {
  it('takes the measured window from done ÷ req/s, not from "finished in", which includes the warm-up', () => {
    const s = parseH2loadSummary(SUMMARY);
    expect(s.seconds).toBeCloseTo(3, 3);
    expect(s.succeeded).toBe(3300);
    expect(s.failed).toBe(26);
  });

  it.each([
    [
      'no "finished in" line',
      SUMMARY.replace(/^finished.*$/m, ''),
      'h2load printed no "finished in" or "requests:" line',
    ],
    [
      'no "requests:" line',
      SUMMARY.replace(/^requests:.*$/m, ''),
      'h2load printed no "finished in" or "requests:" line',
    ],
    [
      'zero req/s',
      SUMMARY.replace('1108.67 req/s', '0.00 req/s'),
      'h2load finished with 0.00 req/s: no request completed',
    ],
    [
      'an error message only',
      'no protocol was negotiated\n',
      'its output began:\nno protocol was negotiated',
    ],
  ])('refuses a summary with %s', (_name, text, message) => {
    expect(() => parseH2loadSummary(text)).toThrow(message);
  });

  it('reads each log row as start, status and duration, skipping blank lines and failed streams as -1', () => {
    const rows = parseH2loadLog('1700000000000000\t200\t1500\n\n1700000000001000\t-1\t90\n');
    expect(rows).toEqual([
      { startUs: 1700000000000000, status: 200, durationUs: 1500 },
      { startUs: 1700000000001000, status: -1, durationUs: 90 },
    ]);
  });

  it.each([
    ['two columns', '1700000000000000\t200\n', 'h2load log line 1 is not "start<TAB>status<TAB>duration"'],
    ['a word for a status', '1\tOK\t3\n', 'h2load log line 1 is not'],
    ['a fractional status', '1\t200.5\t3\n', 'h2load log line 1 is not'],
    ['a bad second line', '1\t200\t3\nx\ty\tz\n', 'h2load log line 2 is not'],
    ['a long garbage line, quoted to 80 characters', `${'z'.repeat(5000)}\n`, `"${'z'.repeat(80)}"`],
  ])('refuses a log with %s', (_name, text, message) => {
    expect(() => parseH2loadLog(text)).toThrow(message);
  });

  it('computes p50 and p99 over the 2xx rows only, in milliseconds', () => {
    const ok = Array.from({ length: 100 }, (_, i) => ({
      startUs: i,
      status: 200,
      durationUs: (i + 1) * 1000,
    }));
    const failed = Array.from({ length: 50 }, (_, i) => ({ startUs: i, status: 503, durationUs: 1e9 }));
    expect(latencyMs([...ok, ...failed])).toEqual({ p50: 50, p99: 99, count: 100 });
  });

  it('gives the nearest-rank percentile: one of the values, with at least p% of them at or below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 100 }),
        (values, p) => {
          const q = percentile(values, p);
          expect(values).toContain(q);
          expect(values.filter((v) => v <= q).length).toBeGreaterThanOrEqual((p / 100) * values.length);
          expect(values.filter((v) => v < q).length).toBeLessThan((p / 100) * values.length);
        },
      ),
    );
    expect(percentile([], 99)).toBeNaN();
  });
});

describe('finding saturation', () => {
  it.each([
    ['one step', [1000], 'continue'],
    ['throughput still rising', [500, 900, 1500], 'continue'],
    ['one flat step after a rise', [500, 1000, 1010], 'continue'],
    ['two flat steps in a row', [500, 1000, 1010, 990], 'stop'],
    ['a drop and a flat step', [500, 1000, 700, 1020], 'stop'],
    ['a flat step, then a real rise, then one flat step', [1000, 1010, 1500, 1490], 'continue'],
  ] as const)('with %s it says %s', (_name, rates, expected) => {
    expect(nextSaturationStep(rates)).toBe(expected);
  });

  const steps = (...rates: number[]) => rates.map((perSecond, i) => ({ concurrency: 2 ** (i + 1), perSecond }));
  it.each([
    ['the best step when nothing before it comes within 5 %', [1000, 2000, 3000, 2500], 8],
    ['the lowest concurrency within 5 % of the best', [1000, 3950, 4000, 4100, 3800], 4],
    ['exactly 5 % below the best', [1000, 4000, 4200, 3000], 4],
    ['a step that beats the best by more than 5 % moves the knee', [3900, 4000, 4300, 4350], 8],
    ['one step', [1234], 2],
  ] as const)('the saturating step is %s', (_name, rates, concurrency) => {
    expect(saturatingStep(steps(...rates)).concurrency).toBe(concurrency);
  });

  it('refuses to pick from no steps', () => {
    expect(() => saturatingStep([])).toThrow('no load step was run');
  });
});

describe('reading meshca counters from /metrics', () => {
  const METRICS = [
    '# HELP citadel_server_csr_count The number of CSRs received.',
    '# TYPE citadel_server_csr_count counter',
    'citadel_server_csr_count{error="",cluster_id="Kubernetes"} 120',
    'citadel_server_csr_count{error="CSR_INVALID",cluster_id="Kubernetes"} 3',
    'citadel_server_csr_count_other 1000',
    'citadel_server_success_cert_issuance_count{cluster_id="Kubernetes"} 120',
  ].join('\n');

  it.each([
    ['sums every label set of a counter', 'citadel_server_csr_count', 123],
    [
      'does not count a metric whose name only starts with the one asked for',
      'citadel_server_csr_count_other',
      1000,
    ],
    ['reads an unlabelled-looking name with labels', 'citadel_server_success_cert_issuance_count', 120],
    ['answers 0 for a metric that is absent', 'citadel_server_csr_sign_err_count', 0],
  ])('%s', (_name, metric, value) => {
    expect(sumMetric(METRICS, metric)).toBe(value);
  });
});
