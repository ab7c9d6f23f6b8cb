import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerAgent } from './agent.js';
import { registerApply } from './apply.js';
import { registerApproveDeny } from './approve-deny.js';
import { registerAudit } from './audit.js';
import { registerDelete } from './delete.js';
import { registerDemo } from './demo.js';
import { registerDescribe } from './describe.js';
import { registerGet } from './get.js';
import { registerInit } from './init.js';
import { registerInspect } from './inspect.js';
import { registerRenew } from './renew.js';
import { registerServe } from './serve.js';
import { registerStatus } from './status.js';
import { registerToken } from './token.js';
import { registerVersion } from './version.js';

/** Adds every meshca command to the program. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerInit(program, ctx);
  registerApply(program, ctx);
  registerGet(program, ctx);
  registerDescribe(program, ctx);
  registerDelete(program, ctx);
  registerStatus(program, ctx);
  registerRenew(program, ctx);
  registerApproveDeny(program, ctx);
  registerInspect(program, ctx);
  registerServe(program, ctx);
  registerToken(program, ctx);
  registerAudit(program, ctx);
  registerAgent(program, ctx);
  registerDemo(program, ctx);
  registerVersion(program, ctx);
}
