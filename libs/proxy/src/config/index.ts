/** Pure compilation of Envoy xDS resources into the proxy's lookup structures (docs/proxy.md, `src/config/`). */
export { compileConfig, type ConfigInput, type CompileOptions, type CompileResult } from './compile.js';
export { applyHeaderOps, routeRequest, splitHostPort, type CompiledHeaderOps, type CompiledVirtualHostPlan } from './routes.js';
export { selectFilterChain, inlineRouteName, type ConnectionFacts, type ListenerPlanExt, type FilterChainTls } from './listeners.js';
export { endpointKey } from './endpoints.js';
export { headerValue, pathOnly, queryValue, type CompiledRegex } from './matchers.js';
export { DEFAULT_CIRCUIT_BREAKERS } from './clusters.js';
