/** Access logs: the recent-log ring fed by ingestion and its query API. */
export * from './recent-logs.js';
export * from './extension.js';
