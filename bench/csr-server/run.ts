/**
 * The CSR server benchmark: meshca's Istio CA gRPC server (`meshca serve`) against `cfssl serve`,
 * both over TLS on this machine, loaded by h2load from separate processes with distinct CSRs,
 * in the same run and interleaved step by step so both see the same machine. Prints certificates/s
 * at saturation, p50/p99 latency at saturation (the knee) and at half that rate, peak RSS, and meshca/cfssl.
 *
 *   npm run bench:csr-server
 *   BENCH_SECONDS=5 BENCH_CONCURRENCY=4,8,16 npm run bench:csr-server
 *   BENCH_MESHCA_ARGS="--workers 2" npm run bench:csr-server
 *   BENCH_MESHCA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:csr-server
 *
 * Needs h2load (Debian nghttp2-client), cfssl (golang-cfssl), openssl, and a built meshca.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCfssl, type CfsslTarget } from './cfssl-target.js';
import { runLoad, type LoadResult } from './h2load-load.js';
import { startMeshca, type MeshcaTarget } from './meshca-target.js';
import { peakRssMiB, runToEnd } from './processes.js';
import { nextSaturationStep, saturatingStep } from './saturation.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '8');
const WARM_UP_SECONDS = Number(process.env.BENCH_WARMUP ?? '2');
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '2,4,8,16,32,64').split(',').map(Number);
const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? '32');
const MESHCA_ARGS = (process.env.BENCH_MESHCA_ARGS ?? '').split(' ').filter((a) => a !== '');
const MESHCA_NODE_ARGS = (process.env.BENCH_MESHCA_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

/** What one server did over the run. */
interface ServerResult {
  readonly name: string;
  readonly steps: LoadResult[];
  /** The knee: the lowest concurrency within 5 % of the best step's certificates/s. */
  saturated?: LoadResult;
  /** The step with the most certificates/s. */
  best?: LoadResult;
  half?: LoadResult;
  /** The same half rate at the highest concurrency run, when that is not the knee's. */
  halfAtTop?: LoadResult;
  halfTarget?: number;
  rssMiB?: number;
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function requirePeers(): Promise<void> {
  for (const [bin, pkg] of [
    ['h2load', 'nghttp2-client'],
    ['cfssl', 'golang-cfssl'],
    ['openssl', 'openssl'],
  ] as const) {
    await runToEnd('sh', ['-c', `command -v ${bin}`]).catch(() => {
      throw new Error(`${bin} is not installed; install it with: apt-get install -y ${pkg}`);
    });
  }
}

/** One load step against meshca, checked against the server's own counters. */
async function meshcaStep(
  m: MeshcaTarget,
  concurrency: number,
  dir: string,
  rps?: number,
): Promise<LoadResult> {
  const before = await m.counters();
  const result = await runLoad({
    url: m.url,
    h1: false,
    workloads: m.workloads,
    concurrency,
    serverPid: m.pid,
    seconds: SECONDS,
    warmUpSeconds: WARM_UP_SECONDS,
    workDir: dir,
    ...(rps !== undefined && { rpsPerConnection: rps }),
  });
  const after = await m.counters();
  const succeeded = after.succeeded - before.succeeded;
  const failedOnServer = after.answered - before.answered - succeeded;
  // h2load sees HTTP 200 for gRPC errors too: the server's counters say whether each answer was a certificate.
  if (failedOnServer !== 0)
    throw new Error(
      `meshca counted ${failedOnServer} failed CSRs in this step; every CSR should have been signed`,
    );
  if (succeeded < result.succeeded) {
    throw new Error(
      `h2load counted ${result.succeeded} successes but meshca issued only ${succeeded} certificates`,
    );
  }
  return result;
}

async function main(): Promise<void> {
  await requirePeers();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshca-csr-bench-'));
  const loadBefore = os.loadavg();
  let meshca: MeshcaTarget | undefined;
  let cfssl: CfsslTarget | undefined;
  try {
    log(`preparing ${IDENTITIES} identities (key, CSR, token) per server …`);
    meshca = await startMeshca({
      dir,
      identities: IDENTITIES,
      extraServeArgs: ['--rate-limit', '0', ...MESHCA_ARGS],
      nodeArgs: MESHCA_NODE_ARGS,
      log,
    });
    cfssl = await startCfssl({ dir, identities: IDENTITIES, log });
    await meshca.check('before');
    await cfssl.check('before');

    const m: ServerResult = { name: 'meshca', steps: [] };
    const c: ServerResult = { name: 'cfssl', steps: [] };
    const run = {
      meshca: (conc: number, rps?: number) => meshcaStep(meshca!, conc, dir, rps),
      cfssl: (conc: number, rps?: number) =>
        runLoad({
          url: cfssl!.url,
          h1: true,
          workloads: cfssl!.workloads,
          concurrency: conc,
          serverPid: cfssl!.pid,
          seconds: SECONDS,
          warmUpSeconds: WARM_UP_SECONDS,
          workDir: dir,
          ...(rps !== undefined && { rpsPerConnection: rps }),
        }),
    };

    // Saturation: raise concurrency until throughput stops rising, the two servers step by step in turn.
    const ramping = new Set<ServerResult>([m, c]);
    for (const level of LEVELS) {
      for (const s of [m, c]) {
        if (!ramping.has(s)) continue;
        const step = await run[s.name as 'meshca' | 'cfssl'](level);
        s.steps.push(step);
        log(
          `${s.name.padEnd(6)} c=${String(level).padStart(3)}  ${fmt(step.perSecond).padStart(6)} certs/s  p50 ${fmt(step.p50Ms, 2)} ms  p99 ${fmt(step.p99Ms, 2)} ms  server CPU ${fmt(step.serverCores, 2)} cores  failed ${step.failed}`,
        );
        if (nextSaturationStep(s.steps.map((x) => x.perSecond)) === 'stop') ramping.delete(s);
      }
      if (ramping.size === 0) break;
    }
    for (const s of [m, c]) {
      s.best = s.steps.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
      s.saturated = saturatingStep(s.steps);
    }

    // Half the saturated rate, paced by h2load, at the saturating concurrency; then, for the
    // record, the same rate at the highest concurrency the ramp ran, if that is another one.
    for (const s of [m, c]) {
      const sat = s.saturated!;
      const top = s.steps.at(-1)!.concurrency;
      s.halfTarget = sat.perSecond / 2;
      s.half = await run[s.name as 'meshca' | 'cfssl'](sat.concurrency, s.halfTarget / sat.concurrency);
      log(
        `${s.name.padEnd(6)} half rate ${fmt(s.halfTarget)}/s at c=${sat.concurrency}: ${fmt(s.half.perSecond)} certs/s  p50 ${fmt(s.half.p50Ms, 2)} ms  p99 ${fmt(s.half.p99Ms, 2)} ms  server CPU ${fmt(s.half.serverCores, 2)} cores`,
      );
      if (top === sat.concurrency) continue;
      s.halfAtTop = await run[s.name as 'meshca' | 'cfssl'](top, s.halfTarget / top);
      log(
        `${s.name.padEnd(6)} half rate ${fmt(s.halfTarget)}/s at c=${top}: ${fmt(s.halfAtTop.perSecond)} certs/s  p50 ${fmt(s.halfAtTop.p50Ms, 2)} ms  p99 ${fmt(s.halfAtTop.p99Ms, 2)} ms  server CPU ${fmt(s.halfAtTop.serverCores, 2)} cores`,
      );
    }

    await meshca.check('after');
    await cfssl.check('after');
    m.rssMiB = peakRssMiB(meshca.pid);
    c.rssMiB = peakRssMiB(cfssl.pid);
    report(m, c, loadBefore, os.loadavg());
  } finally {
    await meshca?.close();
    await cfssl?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Server CPU per certificate in the best step, µs: cores busy ÷ certificates per second. */
const cpuMicros = (s: ServerResult): number | undefined =>
  s.best === undefined ? undefined : (s.best.serverCores / s.best.perSecond) * 1e6;

function report(m: ServerResult, c: ServerResult, loadBefore: number[], loadAfter: number[]): void {
  // The ratio compares each server's best step: the knee is within 5 % of it by definition.
  const ratio = m.best!.perSecond / c.best!.perSecond;
  const atTop = (s: ServerResult): string =>
    s.halfAtTop === undefined
      ? `${s.name}: the knee was the highest concurrency run`
      : `${s.name} at c=${s.halfAtTop.concurrency}: ${fmt(s.halfAtTop.perSecond)}/s, p50 ${fmt(s.halfAtTop.p50Ms, 2)} ms, p99 ${fmt(s.halfAtTop.p99Ms, 2)} ms`;
  const cpu = os.cpus();
  const row = (s: ServerResult): string =>
    `${s.name.padEnd(8)}${fmt(s.saturated?.perSecond).padStart(9)}${String(s.saturated?.concurrency).padStart(6)}` +
    `${fmt(s.saturated?.p50Ms, 2).padStart(10)}${fmt(s.saturated?.p99Ms, 2).padStart(10)}` +
    `${fmt(s.half?.perSecond).padStart(10)}${fmt(s.half?.p50Ms, 2).padStart(10)}${fmt(s.half?.p99Ms, 2).padStart(10)}` +
    `${fmt(s.rssMiB, 1).padStart(10)}`;
  const check = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const lines = [
    '',
    `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after`,
    `load: h2load, ${SECONDS} s per step after ${WARM_UP_SECONDS} s warm-up, one request in flight per connection, up to ${IDENTITIES} distinct CSRs/identities (one h2load process each)`,
    '',
    '          certs/s  conc  p50 (ms)  p99 (ms)  ½-rate/s  p50 (ms)  p99 (ms)  RSS (MiB)',
    '          at saturation (the knee)           at half that rate, same conc.  peak',
    row(m),
    row(c),
    '',
    `best step: meshca ${fmt(m.best?.perSecond)} certs/s at c=${m.best?.concurrency}, cfssl ${fmt(c.best?.perSecond)} certs/s at c=${c.best?.concurrency}`,
    `half rate at the highest concurrency run: ${atTop(m)}; ${atTop(c)}`,
    `meshca/cfssl certificates/s at saturation (best steps): ${ratio.toFixed(2)}`,
    `server CPU per certificate in the best step: meshca ${fmt(cpuMicros(m))} µs, cfssl ${fmt(cpuMicros(c))} µs (user + system, all threads)`,
    `target ratio ≥ 1.5 (authentication and validation on): ${check(ratio >= 1.5)}`,
    `target meshca p99 ≤ 10 ms at half rate (at the knee, c=${m.saturated?.concurrency}): ${check((m.half?.p99Ms ?? Infinity) <= 10)} (${fmt(m.half?.p99Ms, 2)} ms)`,
    `target meshca peak RSS ≤ 200 MiB: ${check((m.rssMiB ?? Infinity) <= 200)} (${fmt(m.rssMiB, 1)} MiB)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
