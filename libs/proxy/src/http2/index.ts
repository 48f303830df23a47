/** The HTTP/2 and gRPC transport: downstream h2c/h2 streams through the pipeline to HTTP/2 or HTTP/1.1 upstreams. */
export { H2Proxy, requestHeadOf, type EngineView, type H2ProxyOptions } from './h2-proxy.js';
export { UpstreamClients, outgoingHeaders, responseHead, type UpstreamResponse, type AttemptOptions } from './upstream.js';
export { BodyBuffer, type BodySink } from './body-buffer.js';
export { effectiveTimeoutMs, grpcMessage, grpcTimeoutMs, isGrpc } from './grpc.js';
