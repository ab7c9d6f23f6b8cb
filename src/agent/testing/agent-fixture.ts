import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createAgentMetrics } from '../agent-metrics.js';
import { WorkloadAgent, type AgentConfig } from '../workload-agent.js';
import { FakeCa } from './fake-ca.js';
import { FakeClock } from './fake-clock.js';

/** A JWT-shaped token (the fake CA does not check it; the shape is what the agent checks). */
export const TEST_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpzbGVlcCJ9.c2lnbmF0dXJl';

/** A fixed start instant for agent tests. */
export const START = new Date('2026-11-22T12:00:00Z');

/** One logged line. */
export interface LoggedLine {
  level: string;
  message: string;
  fields: Readonly<Record<string, unknown>>;
}

/** Everything an agent test needs: a temp folder with token and root files, a fake clock and CA. */
export class AgentFixture {
  readonly dir: string;
  readonly outDir: string;
  readonly tokenFile: string;
  readonly rootFile: string;
  readonly clock: FakeClock;
  readonly ca: FakeCa;
  readonly logs: LoggedLine[] = [];
  /** The registry of the last agent made. */
  registry = new Registry();
  /** The value random() returns next (0.5 is no jitter). */
  randomValue = 0.5;

  constructor(start = START) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'meshca-agent-'));
    this.outDir = path.join(this.dir, 'out');
    this.tokenFile = path.join(this.dir, 'token');
    this.rootFile = path.join(this.dir, 'root.pem');
    this.clock = new FakeClock(start);
    this.ca = new FakeCa(this.clock);
    writeFileSync(this.tokenFile, `${TEST_TOKEN}\n`);
    writeFileSync(this.rootFile, this.ca.rootPem);
  }

  /** The agent's configuration, with overrides. */
  config(overrides: Partial<AgentConfig> = {}): AgentConfig {
    return {
      trustDomain: 'cluster.local',
      namespace: 'default',
      serviceAccount: 'sleep',
      clusterId: 'Kubernetes',
      keySpec: { algorithm: 'ECDSA', size: 256 },
      gracePeriodRatio: 0.5,
      requestedLifetimeMs: 24 * 3_600_000,
      rootCertFile: this.rootFile,
      tokenFile: this.tokenFile,
      outDir: this.outDir,
      ...overrides,
    };
  }

  /** A new agent on this fixture's clock, CA, logs and metrics. */
  agent(overrides: Partial<AgentConfig> = {}): WorkloadAgent {
    this.registry = new Registry();
    return new WorkloadAgent(this.config(overrides), {
      client: this.ca,
      clock: this.clock,
      random: () => this.randomValue,
      log: (level, message, fields = {}) => this.logs.push({ level, message, fields }),
      metrics: createAgentMetrics(this.registry, () => this.clock.now()),
    });
  }

  /** Writes a file in the fixture's folder and returns its path. */
  file(name: string, content: string | Buffer): string {
    const file = path.join(this.dir, name);
    writeFileSync(file, content);
    return file;
  }

  /** Removes the folder. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
