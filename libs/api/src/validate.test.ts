import { describe, expect, it } from 'vitest';
import { validateText } from './validate.js';

describe('validateText envelope', () => {
  it('reports unknown kinds, unsupported kinds and unserved versions with positions', () => {
    const { diagnostics } = validateText(
      [
        'apiVersion: networking.istio.io/v1alpha3',
        'kind: EnvoyFilter',
        'metadata: {name: f}',
        '---',
        'apiVersion: security.istio.io/v9',
        'kind: PeerAuthentication',
        'metadata: {name: p}',
        '---',
        'apiVersion: example.com/v1',
        'kind: Widget',
        'metadata: {name: w}',
      ].join('\n'),
      'x.yaml',
    );
    expect(diagnostics.map((d) => [d.line, d.code, d.path])).toEqual([
      [2, 'MESH_ERR_UNSUPPORTED_KIND', 'kind'],
      [5, 'MESH_ERR_UNKNOWN_KIND', 'apiVersion'],
      [10, 'MESH_ERR_UNKNOWN_KIND', 'kind'],
    ]);
    expect(diagnostics[0].reason).toContain('EnvoyFilter is not supported');
    expect(diagnostics[1].reason).toContain('security.istio.io/v1, security.istio.io/v1beta1');
  });

  it('collects every error of a resource with field paths and lines', () => {
    const { diagnostics, resources } = validateText(
      [
        'apiVersion: security.istio.io/v1',
        'kind: PeerAuthentication',
        'metadata:',
        '  name: Bad_Name',
        '  namespace: foo',
        'spec:',
        '  mtls:',
        '    mode: STRICTEST',
        '  portLevelMtls:',
        '    "80": {mode: DISABLE}',
        '  bogus: 1',
      ].join('\n'),
      'pa.yaml',
    );
    expect(resources).toHaveLength(0);
    expect(diagnostics.map((d) => [d.line, d.path, d.resource?.namespace, d.resource?.name])).toEqual([
      [4, 'metadata.name', 'foo', 'Bad_Name'],
      [8, 'spec.mtls.mode', 'foo', 'Bad_Name'],
      [9, 'spec.portLevelMtls', 'foo', 'Bad_Name'],
      [11, 'spec.bogus', 'foo', 'Bad_Name'],
    ]);
    expect(diagnostics[1].reason).toBe('must be one of "UNSET", "DISABLE", "PERMISSIVE", "STRICT"; got string "STRICTEST"');
    expect(diagnostics[2].reason).toBe('portLevelMtls requires a workload selector');
    expect(diagnostics[3].reason).toBe('unknown field "bogus"');
  });

  it('expands List objects and reports YAML syntax errors without losing other documents', () => {
    const { diagnostics, resources } = validateText(
      [
        'apiVersion: v1',
        'kind: List',
        'items:',
        '- apiVersion: security.istio.io/v1beta1',
        '  kind: PeerAuthentication',
        '  metadata: {name: a, namespace: istio-system}',
        '  spec: {mtls: {mode: STRICT}}',
        '---',
        'key: [unclosed',
      ].join('\n'),
    );
    expect(resources.map((r) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`)).toEqual(['PeerAuthentication istio-system/a']);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0].code).toBe('MESH_ERR_PARSE');
  });
});

describe('parsing paths', () => {
  it('gives the same positions on the fast path (no errors) as on the exact path', () => {
    const text = 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: x}\nspec:\n  mtls:\n    mode: STRICT\n';
    const { resources } = validateText(text, 'f.yaml');
    expect(resources[0].source?.locate(['spec', 'mtls', 'mode'])).toEqual({ file: 'f.yaml', line: 6, column: 5 });
  });

  it('refuses an alias bomb instead of expanding it', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const { diagnostics, resources } = validateText(lines.join('\n'), 'bomb.yaml');
    expect(resources).toEqual([]);
    expect(diagnostics.map((d) => d.code)).toContain('MESH_ERR_PARSE');
  });
});
