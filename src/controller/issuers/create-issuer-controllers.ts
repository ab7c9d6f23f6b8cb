import { CLUSTER_ISSUER, ISSUER } from '../certificates/resource-types.js';
import type { Controller } from '../runtime/controller.js';
import {
  createIssuerReadinessController,
  type IssuerReadinessOptions,
} from './issuer-readiness-controller.js';

/** The readiness controllers of both kinds: Issuer and ClusterIssuer. */
export function createIssuerControllers(options: IssuerReadinessOptions): Controller[] {
  return [
    createIssuerReadinessController(ISSUER, options),
    createIssuerReadinessController(CLUSTER_ISSUER, options),
  ];
}
