/**
 * @meshwork/api — typed, validated mesh resources (Istio-compatible plus meshwork.io).
 * This file is the library's only public door.
 */
export * from './diagnostics.js';
export * from './errors.js';
export { parseText, type RawObject, type ParseResult } from './parse.js';
export { loadPath, listResourceFiles } from './load.js';
export { validateObject, validateText, validateParsed, refOf, type MeshResource, type ValidationResult, type ValidateOptions } from './validate.js';
export { ALL_KINDS, UNSUPPORTED_KINDS, findKind, findKindByName, findUnsupported, splitApiVersion, apiVersionOf, type KindDef, type UnsupportedKind } from './registry.js';
export { parseDuration, formatDuration, checkDuration } from './fields/duration.js';
export { checkRe2 } from './fields/regex.js';
export { checkWildcardHost, checkFqdn, checkDns1123Label, checkDns1123Subdomain } from './fields/host.js';
export { checkIp, checkCidr, checkIpOrCidr } from './fields/net.js';
export { checkLabelKey, checkLabelValue } from './fields/labels.js';
export { crdHints, type CrdHints } from './schema/dsl.js';
export * from './schema/networking.js';
export * from './schema/security.js';
export * from './schema/telemetry.js';
export * from './schema/gateway-api.js';
export * from './schema/core.js';
export * from './schema/meshwork.js';
export * from './analyze/index.js';
export { buildCrd, buildAllCrds, renderCrdFiles, structuralErrors, schemaOf, crdName, type JsonSchemaProps } from './crd.js';
export * from './model.js';
export { parseMeshConfigText, mergeMeshConfig, type MeshConfigFile, type MeshConfigResult } from './mesh-config.js';
