import { expect, test } from 'vitest';
import { CLUSTER_TYPE, encodeResource } from './resources.js';
import { codec, encodeSotwBody } from './wire.js';

test('a shared nonce-less body plus the nonce decodes like a whole response', () => {
  const c = encodeResource(CLUSTER_TYPE, { name: 'c', connectTimeout: { seconds: 1 } });
  if (!c.ok) throw new Error(c.errors.join());
  const resources = [{ typeUrl: CLUSTER_TYPE, value: c.value }];
  const whole = codec.encodeSotwResponse({ versionInfo: 'v1', typeUrl: CLUSTER_TYPE, nonce: '42', resources });
  const shared = codec.encodeSotwResponse({ versionInfo: 'ignored', typeUrl: CLUSTER_TYPE, nonce: '42', resources: [], body: encodeSotwBody('v1', CLUSTER_TYPE, resources) });
  expect(codec.decodeSotwResponse(shared)).toEqual(codec.decodeSotwResponse(whole));
  expect(codec.decodeSotwResponse(shared)).toMatchObject({ versionInfo: 'v1', nonce: '42', resources: [{ typeUrl: CLUSTER_TYPE }] });
});

test('requests keep the node metadata as JSON through the wire', () => {
  const req = { node: { id: 'n', metadata: { LABELS: { app: 'a' }, N: 1 } }, typeUrl: CLUSTER_TYPE, errorDetail: { code: 3, message: 'bad' } };
  expect(codec.decodeSotwRequest(codec.encodeSotwRequest(req))).toEqual(req);
});
