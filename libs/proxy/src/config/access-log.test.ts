import { describe, expect, test } from 'vitest';
import { compileCelFilter, compileHcmTelemetry, type AccessLogAttributes } from './access-log.js';
import { Problems } from './fields.js';

const attrs: AccessLogAttributes = {
  request: { method: 'GET', path: '/api/v1/products?x=1', url_path: '/api/v1/products', host: 'productpage:9080', protocol: 'HTTP/1.1', headers: { 'x-log': 'true', 'user-agent': 'curl/8' }, size: 0, duration_ms: 250 },
  response: { code: 503, code_details: 'upstream_reset_before_response_started', flags: 'UF', size: 91 },
  connection: { mtls: true },
  upstream: { address: '10.0.0.7', port: 9080 },
  xds: { cluster_name: 'outbound|9080||reviews.default.svc.cluster.local' },
};

describe('CEL access-log filters', () => {
  test.each([
    ['response.code >= 400', true],
    ['response.code >= 400 && response.code < 500', false],
    ['response.code == 503', true],
    ['response.code == 503u', true],
    ['response.code in [500, 502, 503]', true],
    ['request.method == "GET" && request.url_path.startsWith("/api/")', true],
    ["request.headers['x-log'] == 'true'", true],
    ['(connection.mtls && request.headers["x-log"] == "true") || request.url_path.contains("v1beta3")', true],
    ['request.url_path.matches("v[0-9]+/prod")', true],
    ['request.url_path.endsWith("/products")', true],
    ['size(request.url_path) > 10', true],
    ['request.url_path.size() == 16', true],
    ['has(request.headers.authorization)', false],
    ['!has(request.headers.authorization)', true],
    ['response.flags != "-"', true],
    ['request.duration_ms > 100 ? true : false', true],
    ['response.code / 100 == 5', true],
    ['response.code % 100 == 3', true],
    ['-response.code < 0', true],
    ['string(response.code) + "!" == "503!"', true],
    ['int("42") == 42', true],
    ['double(response.size) / 2.0 > 45.0', true],
    ['xds.cluster_name.startsWith("outbound|")', true],
    ['upstream.port == 9080', true],
    // errors make the filter false, but || and && still short-circuit over them (CEL semantics)
    ["request.headers['missing'] == 'x'", false],
    ["request.headers['missing'] == 'x' || response.code == 503", true],
    ["response.code == 200 && request.headers['missing'] == 'x'", false],
    ['response.code == "503"', false],
    ['response.code / 0 == 1', false],
    ['source.address == "1.2.3.4"', false],
    ['response.code', false],
  ])('%s → %s', (expr, want) => {
    const c = compileCelFilter(expr);
    expect(c.ok).toBe(true);
    if (c.ok) expect(c.filter(attrs)).toBe(want);
  });

  test.each([
    ['response.code >=', /unexpected end/],
    ['foo.bar == 1', /undeclared reference to "foo"/],
    ['request.path.lowerAscii() == "x"', /function "lowerAscii" is not supported/],
    ['request.path.matches("(")', /invalid RE2 regex/],
    ['has(request)', /has\(\) takes one field selection/],
    ['response.code == 1 )', /unexpected "\)"/],
    ['response.code # 1', /unexpected character/],
  ])('%s does not compile', (expr, why) => {
    const c = compileCelFilter(expr);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.error).toMatch(why);
  });
});

describe('compileHcmTelemetry', () => {
  const fileLog = (extra: Record<string, unknown> = {}) => ({
    name: 'envoy.access_loggers.file',
    typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/stdout', logFormat: { textFormatSource: { inlineString: '[%START_TIME%]\n' } } },
    ...extra,
  });
  const celFilter = (expression: string) => ({
    extensionFilter: { name: 'envoy.access_loggers.extension_filters.cel', typedConfig: { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', typeUrl: 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', value: { expression } } },
  });

  test('file logs with and without a CEL filter (TypedStruct or the ExpressionFilter itself), and the sampling', () => {
    const p = new Problems('listener virtualInbound', []);
    const plan = compileHcmTelemetry(
      p,
      {
        accessLog: [
          fileLog(),
          fileLog({ filter: celFilter('response.code >= 400') }),
          fileLog({ filter: { extensionFilter: { name: 'cel', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', expression: 'response.code == 200' } } } }),
        ],
        tracing: { randomSampling: { value: 25 }, clientSampling: { value: 100 } },
      },
      'filter_chains[0].filters[0].typed_config',
    );
    expect(p.errors).toEqual([]);
    expect(plan.randomSamplingPercent).toBe(25);
    expect(plan.accessLogs.map((l) => [l.path, l.format, l.expression])).toEqual([
      ['/dev/stdout', 'text', undefined],
      ['/dev/stdout', 'text', 'response.code >= 400'],
      ['/dev/stdout', 'text', 'response.code == 200'],
    ]);
    expect(plan.accessLogs[1].filter?.({ response: { code: 404 } })).toBe(true);
    expect(plan.accessLogs[1].filter?.({ response: { code: 200 } })).toBe(false);
  });

  test('a bad filter is an error with its path and the log is left out; other loggers are warnings', () => {
    const p = new Problems('listener x', []);
    const plan = compileHcmTelemetry(p, { accessLog: [fileLog({ filter: celFilter('nope(') }), { name: 'envoy.access_loggers.open_telemetry', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig' } }] }, 'hcm');
    expect(plan.accessLogs).toEqual([]);
    expect(p.errors).toEqual(['listener x: hcm.access_log[0].filter: CEL expression "nope(": unexpected end of expression']);
    expect(p.warnings[0]).toMatch(/^listener x: hcm.access_log\[1\]: access logger envoy.access_loggers.open_telemetry is not supported/);
  });
});
