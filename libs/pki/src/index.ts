/**
 * @meshwork/pki — X.509 and SPIFFE: keys, CSRs, certificate building (node-forge ASN.1, node:crypto
 * signatures), chain verification and the workload certificate manager. This file is the library's
 * only public door.
 */
export * from './errors.js';
export * from './keys.js';
export * from './spiffe.js';
export * from './csr.js';
export * from './cert.js';
export * from './chain.js';
export { certificatePems, toPem, pemBlocks } from './der.js';
export * from './cert-manager.js';
export * from './citadel-client.js';
export * from './grpc-credentials.js';
