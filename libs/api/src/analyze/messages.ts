/**
 * Every message the analyzers emit. `IST*` codes and names are Istio's (pkg/config/analysis/msg),
 * reused where the check means the same, so that Istio users recognise them; `MW*` codes are
 * Meshwork's own checks.
 */
import type { MessageDef } from './types.js';

export const ReferencedResourceNotFound: MessageDef = { code: 'IST0101', name: 'ReferencedResourceNotFound', severity: 'Error' };
export const ConflictingMeshGatewayVirtualServiceHosts: MessageDef = { code: 'IST0109', name: 'ConflictingMeshGatewayVirtualServiceHosts', severity: 'Error' };
export const ConflictingSidecarWorkloadSelectors: MessageDef = { code: 'IST0110', name: 'ConflictingSidecarWorkloadSelectors', severity: 'Error' };
export const MultipleSidecarsWithoutWorkloadSelectors: MessageDef = { code: 'IST0111', name: 'MultipleSidecarsWithoutWorkloadSelectors', severity: 'Error' };
export const VirtualServiceDestinationPortSelectorRequired: MessageDef = { code: 'IST0112', name: 'VirtualServiceDestinationPortSelectorRequired', severity: 'Error' };
/** Retired by Istio when its mTLS analyzer (built on the old authentication Policy API) was removed in 2020; the conflict is still real with PeerAuthentication, so Meshwork keeps the code. */
export const MTLSPolicyConflict: MessageDef = { code: 'IST0113', name: 'MTLSPolicyConflict', severity: 'Error' };
export const PortNameIsNotUnderNamingConvention: MessageDef = { code: 'IST0118', name: 'PortNameIsNotUnderNamingConvention', severity: 'Info' };
export const NoMatchingWorkloadsFound: MessageDef = { code: 'IST0127', name: 'NoMatchingWorkloadsFound', severity: 'Warning' };
export const VirtualServiceUnreachableRule: MessageDef = { code: 'IST0130', name: 'VirtualServiceUnreachableRule', severity: 'Warning' };
export const VirtualServiceIneffectiveMatch: MessageDef = { code: 'IST0131', name: 'VirtualServiceIneffectiveMatch', severity: 'Info' };
export const VirtualServiceHostNotFoundInGateway: MessageDef = { code: 'IST0132', name: 'VirtualServiceHostNotFoundInGateway', severity: 'Warning' };
export const ServiceEntryAddressesRequired: MessageDef = { code: 'IST0134', name: 'ServiceEntryAddressesRequired', severity: 'Warning' };
export const ConflictingGateways: MessageDef = { code: 'IST0145', name: 'ConflictingGateways', severity: 'Error' };
export const DestinationRuleSubsetNotSelectPods: MessageDef = { code: 'IST0173', name: 'DestinationRuleSubsetNotSelectPods', severity: 'Error' };
export const UnknownDestinationRuleHost: MessageDef = { code: 'IST0174', name: 'UnknownDestinationRuleHost', severity: 'Warning' };

export const DuplicateResource: MessageDef = { code: 'MW0001', name: 'DuplicateResource', severity: 'Warning' };
export const RouteWeightsNotHundred: MessageDef = { code: 'MW0101', name: 'RouteWeightsNotHundred', severity: 'Warning' };
export const ConflictingDestinationRules: MessageDef = { code: 'MW0102', name: 'ConflictingDestinationRules', severity: 'Warning' };
export const MergedDestinationRules: MessageDef = { code: 'MW0104', name: 'MergedDestinationRules', severity: 'Info' };
export const RingSizeTooLarge: MessageDef = { code: 'MW0105', name: 'RingSizeTooLarge', severity: 'Warning' };
export const IneffectiveDelegate: MessageDef = { code: 'MW0103', name: 'IneffectiveDelegate', severity: 'Error' };
export const ForeignTrustDomainPrincipal: MessageDef = { code: 'MW0201', name: 'ForeignTrustDomainPrincipal', severity: 'Warning' };
export const SpiffePrefixedPrincipal: MessageDef = { code: 'MW0202', name: 'SpiffePrefixedPrincipal', severity: 'Warning' };
