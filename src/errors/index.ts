/** The error catalog and the MeshcaError type every layer throws. */
export { ERROR_CODES, type ErrorCode, type ErrorCodeSpec } from './codes.js';
export { MeshcaError, isMeshcaError, toMeshcaError, type MeshcaErrorOptions } from './meshca-error.js';
