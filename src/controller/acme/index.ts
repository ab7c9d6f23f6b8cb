/** The ACME controllers (CertificateRequest → Order → Challenge) and the HTTP-01 solver listener. */
export { createAcmeControllers, type AcmeControllerOptions } from './create-acme-controllers.js';
export { startHttp01Solver, type Http01Solver, HTTP01_PREFIX } from './http01-solver-server.js';
export { ORDER, CHALLENGE } from './acme-types.js';
