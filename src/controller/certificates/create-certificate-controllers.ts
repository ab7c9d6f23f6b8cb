import type { Controller } from '../runtime/controller.js';
import { createApproverController } from './approver-controller.js';
import { createIssuingController } from './issuing-controller.js';
import { createKeyManagerController } from './key-manager-controller.js';
import { lifecycleSettings, type CertificateControllerOptions } from './lifecycle-options.js';
import { createReadinessController } from './readiness-controller.js';
import { createRequestManagerController } from './request-manager-controller.js';
import { createRequestSignerController } from './request-signer-controller.js';
import { createTriggerController } from './trigger-controller.js';

/**
 * The certificate lifecycle as small controllers that talk only through status and conditions
 * (DESIGN §2): trigger, key manager, request manager, approver, request signer, issuing, readiness.
 */
export function createCertificateControllers(options: CertificateControllerOptions): Controller[] {
  const settings = lifecycleSettings(options);
  return [
    createTriggerController(settings),
    createKeyManagerController(settings),
    createRequestManagerController(settings),
    createApproverController(settings),
    createRequestSignerController(settings),
    createIssuingController(settings),
    createReadinessController(settings),
  ];
}
