/**
 * Every flag and environment variable of meshwork-mixer's core (STYLE.md 12). Extensions
 * (apps/mixer/src/extensions.ts) add their own; `--help` and docs/mixer.md are generated from
 * both lists; nothing else reads process.env.
 */
import type { SettingDef } from '@meshwork/settings';

/** Mixer core's flags (extensions' follow them, see all-settings.ts). */
export const MIXER_SETTINGS = [
  { key: 'natsUrl', flag: 'nats-url', env: 'MIXER_NATS_URL', type: 'string', default: 'nats://127.0.0.1:4222', description: 'NATS server with JetStream: records arrive on stream MESH_TELEMETRY (mesh.telemetry.<ns>.<workload>)' },
  { key: 'address', flag: 'address', env: 'MIXER_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address every port binds to (0.0.0.0 in a container)' },
  { key: 'metricsPort', flag: 'metrics-port', env: 'MIXER_METRICS_PORT', type: 'port', default: '15014', description: 'HTTP port: /metrics (Istio standard metrics aggregated from records, mixer_*), /healthz/ready, /api/graph, extension APIs' },
  { key: 'stream', flag: 'stream', env: 'MIXER_STREAM', type: 'string', default: 'MESH_TELEMETRY', description: 'JetStream stream of telemetry batches (created when missing, subjects mesh.telemetry.>)' },
  { key: 'consumer', flag: 'consumer', env: 'MIXER_CONSUMER', type: 'string', default: 'mixer', description: 'durable pull consumer shared by every replica (they split the batches like a queue group)' },
  { key: 'replicaName', flag: 'replica-name', env: 'POD_NAME', type: 'string', description: 'name of this replica: its checkpoint key, so a restart under the same name resumes its counters; every replica needs its own (default: the host name, e.g. the pod name)' },
  { key: 'streamMaxAge', flag: 'stream-max-age', env: 'MIXER_STREAM_MAX_AGE', type: 'duration', default: '1h', description: 'when creating the stream: oldest batch kept (unconsumed batches older than this are lost)' },
  { key: 'streamMaxBytes', flag: 'stream-max-bytes', env: 'MIXER_STREAM_MAX_BYTES', type: 'int', default: '1073741824', description: 'when creating the stream: most bytes kept (oldest discarded beyond it)' },
  { key: 'ackWait', flag: 'ack-wait', env: 'MIXER_ACK_WAIT', type: 'duration', default: '30s', description: 'when creating the consumer: a batch not acknowledged within this is redelivered (to any replica)' },
  { key: 'maxAckPending', flag: 'max-ack-pending', env: 'MIXER_MAX_ACK_PENDING', type: 'int', default: '1000', description: 'when creating the consumer: most batches delivered and not yet acknowledged, all replicas together' },
  { key: 'fetchBatch', flag: 'fetch-batch', env: 'MIXER_FETCH_BATCH', type: 'int', default: '20', description: 'most batches delivered ahead of the one being applied: checkpoint writes and acks wait behind them, so more means slower checkpoints' },
  { key: 'checkpointInterval', flag: 'checkpoint-interval', env: 'MIXER_CHECKPOINT_INTERVAL', type: 'duration', default: '1s', description: 'how often the replica saves its state (metrics, graph, applied batches) to NATS KV and then acks the batches it covers; must be well under --ack-wait' },
  { key: 'stateBucket', flag: 'state-bucket', env: 'MIXER_STATE_BUCKET', type: 'string', default: 'mesh-mixer-state', description: 'JetStream KV bucket of replica checkpoints (key <consumer>.<replica-name>): a replica restarted under the same name resumes its counters' },
  { key: 'dedupeWindow', flag: 'dedupe-window', env: 'MIXER_DEDUPE_WINDOW', type: 'int', default: '65536', description: 'per sender, how many batch sequence numbers back a redelivered duplicate is still recognised' },
  { key: 'maxSeries', flag: 'max-series', env: 'MIXER_MAX_SERIES', type: 'int', default: '100000', description: 'most label tuples per Istio metric family (beyond it records are not counted in /metrics)' },
  { key: 'graphDegradedRatio', flag: 'graph-degraded-ratio', env: 'MIXER_GRAPH_DEGRADED_RATIO', type: 'string', default: '0.001', description: 'graph health: a node whose error ratio is above this is degraded (Kiali\'s default 0.1 %)' },
  { key: 'graphFailingRatio', flag: 'graph-failing-ratio', env: 'MIXER_GRAPH_FAILING_RATIO', type: 'string', default: '0.2', description: 'graph health: a node whose error ratio is at or above this is failing (Kiali\'s default 20 %); above --graph-degraded-ratio' },
  { key: 'logLevel', flag: 'log-level', env: 'MIXER_LOG_LEVEL', type: 'string', default: 'info', description: 'log level' },
] as const satisfies readonly SettingDef[];
