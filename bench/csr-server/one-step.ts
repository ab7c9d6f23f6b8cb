/**
 * One load step against meshca alone, for profiling and for comparing two builds quickly: starts
 * `meshca serve` as bench/csr-server does, runs h2load once at a fixed concurrency (and, with
 * RPS, a fixed rate per connection), and prints the step as JSON with the server's CPU per
 * certificate, its peak RSS and its own event-loop and GC figures from /metrics.
 *
 *   npm run build && node --import tsx bench/csr-server/one-step.ts
 *   C=16 RPS=112 S=10 node --import tsx bench/csr-server/one-step.ts            # half rate at c=16
 *   NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node --import tsx bench/csr-server/one-step.ts
 *   ARGS="--signing-workers 2" node --import tsx bench/csr-server/one-step.ts
 *
 * Nothing else should run on the machine meanwhile: the figures are only comparable on an idle one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runLoad } from './h2load-load.js';
import { startCfssl } from './cfssl-target.js';
import { startMeshca } from './meshca-target.js';
import { peakRssMiB } from './processes.js';

const words = (v: string | undefined): string[] => (v ?? '').split(' ').filter((a) => a !== '');
const concurrency = Number(process.env.C ?? '8');
const seconds = Number(process.env.S ?? '10');
const rps = process.env.RPS === undefined ? undefined : Number(process.env.RPS);

const dir = mkdtempSync(path.join(os.tmpdir(), 'meshca-one-step-'));
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const cfssl = process.env.TARGET === 'cfssl';
const meshca = cfssl
  ? undefined
  : await startMeshca({
        dir,
        identities: 32,
        extraServeArgs: ['--rate-limit', '0', ...words(process.env.ARGS)],
        nodeArgs: words(process.env.NODE_ARGS),
        log,
      });
const target = meshca ?? (await startCfssl({ dir, identities: 32, log }));
try {
  const step = await runLoad({
    url: target.url,
    h1: cfssl && process.env.PROTO !== 'h2',
    workloads: target.workloads,
    concurrency,
    serverPid: target.pid,
    seconds,
    warmUpSeconds: 2,
    workDir: dir,
    ...(rps !== undefined && { rpsPerConnection: rps }),
  });
  const serverMetrics = (meshca === undefined ? '' : await meshca.metrics())
    .split('\n')
    .filter((l) => /^nodejs_(eventloop_lag_(p99|max)_seconds|gc_duration_seconds_(sum|count))/.test(l));
  process.stdout.write(
    `${JSON.stringify(
      {
        ...step,
        cpuMicrosecondsPerCertificate: Math.round((step.serverCores / step.perSecond) * 1e6),
        peakRssMiB: Number(peakRssMiB(target.pid).toFixed(1)),
        serverMetrics,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await target.close();
  rmSync(dir, { recursive: true, force: true });
}
