import type { CliContext } from './context.js';

/** The namespace commands use without -n: $MESHCA_NAMESPACE, else istio-system (where meshca's CA lives). */
export function defaultNamespace(ctx: CliContext): string {
  return ctx.env['MESHCA_NAMESPACE'] ?? 'istio-system';
}
