/** The request pipeline: the ordered decision stages and the retry rules of the forwarding half. */
export * from './pipeline.js';
export * from './fault.js';
export * from './cors.js';
export * from './headers.js';
export * from './retry.js';
export * from './forward.js';
export * from './request-id.js';
