/**
 * Drives load with h2load. h2load posts one body file (`-d`) with one set of headers per process,
 * so distinct CSRs (each for its own identity, with that identity's token) come from distinct
 * h2load processes run side by side: workload i is one process with its own body file and its own
 * `authorization` header, holding `connections` connections of one request in flight each (an
 * Istio agent keeps one connection to its CA and sends one CSR at a time).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cpuSeconds } from './processes.js';
import { latencyMs, parseH2loadLog, parseH2loadSummary, type H2loadLogRow } from './h2load-output.js';

/** One workload identity: its request body file and its extra headers (`name: value`). */
export interface Workload {
  readonly bodyFile: string;
  readonly headers: readonly string[];
}

/** What to load and how hard. */
export interface LoadOptions {
  readonly url: string;
  /** HTTP/1.1 (cfssl serve) instead of HTTP/2. */
  readonly h1: boolean;
  readonly workloads: readonly Workload[];
  /** Requests in flight in total: one per connection, spread over the workloads. */
  readonly concurrency: number;
  readonly seconds: number;
  readonly warmUpSeconds: number;
  /** Requests per second per connection (open-loop pacing); undefined runs as fast as answers come. */
  readonly rpsPerConnection?: number;
  /** Folder for the per-process log files. */
  readonly workDir: string;
  /** The server's process ID, to measure the CPU it used during the step. */
  readonly serverPid: number;
}

/** One load step's result. */
export interface LoadResult {
  readonly concurrency: number;
  /** Successful answers per second over the measured window, summed over the processes. */
  readonly perSecond: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** h2load processes (= distinct CSRs and identities) used. */
  readonly processes: number;
  /** Cores the server (with any workers it forked) kept busy on average over the step, warm-up included. */
  readonly serverCores: number;
}

let runSeq = 0;

/** Runs one h2load process and returns its stdout; rejects with its stderr when it exits non-zero. */
function runH2load(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`h2load exited with ${code}: ${err.slice(0, 500)}${out.slice(0, 500)}`)),
    );
  });
}

/** Runs one step: min(concurrency, workloads) h2load processes at once, then sums and merges their results. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const processes = Math.min(o.concurrency, o.workloads.length);
  const base = Math.floor(o.concurrency / processes);
  const extra = o.concurrency % processes;
  const step = ++runSeq;
  const jobs = Array.from({ length: processes }, (_, i) => {
    const w = o.workloads[i];
    if (w === undefined) throw new Error(`workload ${i} is missing`);
    const connections = base + (i < extra ? 1 : 0);
    const logFile = path.join(o.workDir, `h2load-${step}-${i}.log`);
    const args = [
      '-D',
      String(o.seconds),
      '--warm-up-time',
      String(o.warmUpSeconds),
      '-c',
      String(connections),
      '-m',
      '1',
      '-t',
      '1',
      '-d',
      w.bodyFile,
      '--log-file',
      logFile,
      ...w.headers.flatMap((h) => ['-H', h]),
      ...(o.h1 ? ['--h1'] : []),
      ...(o.rpsPerConnection !== undefined ? ['--rps', o.rpsPerConnection.toFixed(3)] : []),
      o.url,
    ];
    return runH2load(args).then((out) => ({ summary: parseH2loadSummary(out), logFile }));
  });
  const cpuBefore = cpuSeconds(o.serverPid);
  const startedMs = performance.now();
  const results = await Promise.all(jobs);
  const serverCores = (cpuSeconds(o.serverPid) - cpuBefore) / ((performance.now() - startedMs) / 1000);
  const rows: H2loadLogRow[] = results.flatMap((r) => parseH2loadLog(readFileSync(r.logFile, 'utf8')));
  const lat = latencyMs(rows);
  return {
    concurrency: o.concurrency,
    perSecond: results.reduce((s, r) => s + r.summary.succeeded / r.summary.seconds, 0),
    succeeded: results.reduce((s, r) => s + r.summary.succeeded, 0),
    failed: results.reduce((s, r) => s + r.summary.failed, 0),
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    processes,
    serverCores,
  };
}
