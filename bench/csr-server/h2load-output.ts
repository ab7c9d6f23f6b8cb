/**
 * Reading what h2load prints: its end-of-run summary (how many requests succeeded in the measured
 * window, and how long that window was) and its per-request log file (status and time of each
 * request), from which latency percentiles are computed — h2load itself prints only min, max,
 * mean and standard deviation.
 */

/** The part of h2load's summary the benchmark uses. */
export interface H2loadSummary {
  /** Length of the measured window, seconds (the warm-up excluded). */
  readonly seconds: number;
  /** Requests that got a 2xx/3xx answer in the window. */
  readonly succeeded: number;
  /** Requests that got another status, or whose stream failed, errored or timed out. */
  readonly failed: number;
}

/** One row of h2load's `--log-file`. */
export interface H2loadLogRow {
  /** Request start, microseconds since the epoch. */
  readonly startUs: number;
  /** HTTP status; -1 for a failed stream. */
  readonly status: number;
  /** Microseconds from the request's start to the end of its response. */
  readonly durationUs: number;
}

/**
 * Parses h2load's summary, e.g. `finished in 10.00s, 1234.50 req/s, 1.2MB/s` and
 * `requests: 10 total, 10 started, 10 done, 9 succeeded, 1 failed, 0 errored, 0 timeout`.
 * With --warm-up-time, "finished in" counts the warm-up too while the counts and req/s cover the
 * measured window only, so the window is done ÷ req/s. Throws with the text's first lines when a
 * line is missing, so a changed h2load is noticed.
 */
export function parseH2loadSummary(text: string): H2loadSummary {
  const finished = /^finished in [\d.]+(?:us|ms|s|m|h), ([\d.]+) req\/s,/m.exec(text);
  const requests =
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(
      text,
    );
  if (finished === null || requests === null) {
    const head = text.split('\n').slice(0, 8).join('\n');
    throw new Error(`h2load printed no "finished in" or "requests:" line; its output began:\n${head}`);
  }
  const reqPerSecond = Number(finished[1]);
  const [, , , done = '0', succeeded = '0', failed = '0', errored = '0', timeout = '0'] = requests;
  if (!(reqPerSecond > 0))
    throw new Error(`h2load finished with ${finished[1]} req/s: no request completed in the measured window`);
  return {
    seconds: Number(done) / reqPerSecond,
    succeeded: Number(succeeded),
    failed: Number(failed) + Number(errored) + Number(timeout),
  };
}

/** Parses h2load's `--log-file` (tab-separated: start µs, status, duration µs); blank lines are skipped. */
export function parseH2loadLog(text: string): H2loadLogRow[] {
  const rows: H2loadLogRow[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const cols = line.split('\t');
    const [startUs, status, durationUs] = cols.map(Number);
    if (
      cols.length < 3 ||
      !Number.isFinite(startUs) ||
      !Number.isInteger(status) ||
      !Number.isFinite(durationUs)
    ) {
      throw new Error(
        `h2load log line ${i + 1} is not "start<TAB>status<TAB>duration": ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    rows.push({ startUs: startUs ?? 0, status: status ?? -1, durationUs: durationUs ?? 0 });
  }
  return rows;
}

/** The nearest-rank percentile `p` (0–100) of `values`; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}

/** p50 and p99 in milliseconds of the successful (2xx) rows. */
export function latencyMs(rows: readonly H2loadLogRow[]): { p50: number; p99: number; count: number } {
  const ok = rows.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.durationUs / 1000);
  return { p50: percentile(ok, 50), p99: percentile(ok, 99), count: ok.length };
}
