import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError, type MeshcaError } from '../errors/index.js';
import { MAX_MANIFEST_BYTES, parseManifests } from './manifest.js';
import { toJson, toYaml } from './manifest-output.js';
import {
  ACME_ISSUER,
  CA_ISSUER,
  CERTIFICATE_REQUEST,
  GATEWAY_CERTIFICATE,
  ISTIO_CA_CERTIFICATE,
  KUBECTL_TLS_SECRET,
  ROOT_CERTIFICATE,
  SELF_SIGNED_CLUSTER_ISSUER,
  VAULT_APPROLE_CLUSTER_ISSUER,
} from './testing/manifests.js';

const ALL = [
  SELF_SIGNED_CLUSTER_ISSUER,
  ROOT_CERTIFICATE,
  CA_ISSUER,
  ISTIO_CA_CERTIFICATE,
  VAULT_APPROLE_CLUSTER_ISSUER,
  ACME_ISSUER,
  GATEWAY_CERTIFICATE,
  CERTIFICATE_REQUEST,
  KUBECTL_TLS_SECRET,
];

// The error parseManifests throws for `text`; fails the test when it does not throw.
function failure(text: string, source = 'mesh.yaml'): MeshcaError {
  try {
    parseManifests(text, source);
  } catch (err) {
    if (isMeshcaError(err)) return err;
    throw err;
  }
  return expect.unreachable('parseManifests accepted invalid input');
}

describe('parseManifests', () => {
  it('reads a multi-document file of every kind of fixture, in order', () => {
    const resources = parseManifests(ALL.join('---\n'), 'mesh.yaml');
    expect(resources.map((r) => `${r.kind}/${r.metadata.name}`)).toEqual([
      'ClusterIssuer/selfsigned',
      'Certificate/mesh-root',
      'Issuer/istio-intermediate-ca',
      'Certificate/istio-ca',
      'ClusterIssuer/vault-issuer',
      'Issuer/letsencrypt',
      'Certificate/gateway-tls',
      'CertificateRequest/web-1',
      'Secret/gateway-tls',
    ]);
  });

  it('skips empty documents, comment-only documents and stray separators', () => {
    const text = `---\n# nothing here\n---\n${SELF_SIGNED_CLUSTER_ISSUER}---\n---\n`;
    expect(parseManifests(text, 'a.yaml')).toHaveLength(1);
    expect(parseManifests('', 'empty.yaml')).toEqual([]);
    expect(parseManifests('# only a comment\n', 'c.yaml')).toEqual([]);
  });

  it('reads JSON, as kubectl -o json prints it', () => {
    const json = JSON.stringify(
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'ClusterIssuer',
        metadata: { name: 'selfsigned' },
        spec: { selfSigned: {} },
      },
      null,
      4,
    );
    expect(parseManifests(json, 'issuer.json')).toEqual([
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'ClusterIssuer',
        metadata: { name: 'selfsigned' },
        spec: { selfSigned: {} },
      },
    ]);
  });

  it('unpacks a kind: List into its items', () => {
    const list = toJson(parseManifests([SELF_SIGNED_CLUSTER_ISSUER, CA_ISSUER].join('---\n'), 'a.yaml'));
    expect(parseManifests(list, 'list.json').map((r) => r.kind)).toEqual(['ClusterIssuer', 'Issuer']);
  });

  it('names the file, the line, the field path and the field meant for a misspelt field', () => {
    const text = `${SELF_SIGNED_CLUSTER_ISSUER}---\n${ISTIO_CA_CERTIFICATE.replace('organizations:', 'organisations:')}`;
    const err = failure(text, 'istio-ca.yaml');
    expect(err.code).toBe('INVALID_RESOURCE');
    expect(err.message).toBe('istio-ca.yaml: 1 error in 1 document; nothing was applied');
    expect(err.details).toEqual([
      'istio-ca.yaml:22: spec.subject.organisations: unknown field; did you mean "organizations"?',
    ]);
  });

  it('reports every error of every document in line order, with a summary', () => {
    const bad1 = GATEWAY_CERTIFICATE.replace('size: 4096', 'size: 1024').replace(
      'secretName: gateway-tls',
      'secretName: Gateway',
    );
    const bad2 = CA_ISSUER.replace('  ca:\n', '  ca:\n    secretname: x\n');
    const err = failure(`${bad1}---\n${SELF_SIGNED_CLUSTER_ISSUER}---\n${bad2}`);
    expect(err.message).toBe('mesh.yaml: 3 errors in 2 documents; nothing was applied');
    expect(err.details).toEqual([
      expect.stringMatching(/^mesh\.yaml:7: spec\.secretName: must be a lowercase RFC 1123 subdomain/),
      'mesh.yaml:19: spec.privateKey.size: must be between 2048 and 8192 for RSA keys; it is 1024',
      'mesh.yaml:40: spec.ca.secretname: unknown field; did you mean "secretName"?',
    ]);
  });

  it('points a missing field at the line of its parent mapping', () => {
    const err = failure(CA_ISSUER.replace('    secretName: mesh-root\n', ''));
    expect(err.details).toEqual(['mesh.yaml:7: spec.ca.secretName: is required (a string)']);
  });

  it('points at items of a List by their index and line', () => {
    const text =
      'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: ok}\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: Bad}\n';
    expect(failure(text).details).toEqual([
      expect.stringMatching(
        /^mesh\.yaml:9: items\[1\]\.metadata\.name: must be a lowercase RFC 1123 subdomain/,
      ),
    ]);
  });

  it.each<[string, string, RegExp]>([
    [
      'an unknown kind',
      'apiVersion: cert-manager.io/v1\nkind: Certficate\nmetadata: {name: a}\n',
      /^mesh\.yaml:2: kind: unknown kind "Certficate" in "cert-manager\.io\/v1"; did you mean "Certificate"\? meshca knows: Certificate \(cert-manager\.io\/v1\), CertificateRequest/,
    ],
    [
      'an old apiVersion',
      'apiVersion: cert-manager.io/v1alpha2\nkind: Certificate\nmetadata: {name: a}\n',
      /^mesh\.yaml:1: apiVersion: Certificate is served as "cert-manager\.io\/v1", not "cert-manager\.io\/v1alpha2"; change apiVersion$/,
    ],
    [
      'a kind meshca does not serve',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n',
      /^mesh\.yaml:2: kind: unknown kind "Deployment" in "apps\/v1"; meshca knows: .*MeshcaConfig \(meshca\.io\/v1alpha1\)$/,
    ],
    [
      'a document without kind',
      'apiVersion: v1\nmetadata: {name: a}\n',
      /^mesh\.yaml:1: kind: is required \(a string such as "Certificate"\)$/,
    ],
    [
      'a scalar document',
      'hello\n',
      /^mesh\.yaml:1: <document>: a resource must be a mapping with apiVersion, kind and metadata, not a string$/,
    ],
    [
      'a list document',
      '- a\n- b\n',
      /^mesh\.yaml:1: <document>: a resource must be a mapping with apiVersion, kind and metadata, not a list$/,
    ],
    [
      'a duplicate key',
      'apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n',
      /^mesh\.yaml:3: yaml: map keys must be unique$/,
    ],
    ['broken YAML', 'apiVersion: v1\nkind: [ConfigMap\n', /^mesh\.yaml:\d+: yaml: /],
    [
      'an alias to no anchor',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: *meta\n',
      /^mesh\.yaml:1: yaml: unresolved alias/,
    ],
    [
      'the same resource twice',
      `${CA_ISSUER}---\n${CA_ISSUER}`,
      /^mesh\.yaml:16: metadata\.name: Issuer istio-system\/istio-intermediate-ca is already defined at line 1; keep one$/,
    ],
    [
      'a List without items',
      'apiVersion: v1\nkind: List\n',
      /^mesh\.yaml:1: items: a List needs items: a list of resources$/,
    ],
  ])('rejects %s with a precise line', (_what, text, pattern) => {
    const err = failure(text);
    expect(err.code).toBe('INVALID_RESOURCE');
    expect(err.details).toEqual([expect.stringMatching(pattern)]);
  });

  it('applies nothing when one document of many is wrong', () => {
    const text = `${SELF_SIGNED_CLUSTER_ISSUER}---\n${CA_ISSUER}---\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: not-base64!}\n`;
    expect(failure(text).details).toEqual([
      'mesh.yaml:26: data.k: must be standard base64 with padding (encode with `base64 -w0`)',
    ]);
  });

  describe('hostile input', () => {
    it('refuses a file over 4 MiB with INPUT_TOO_LARGE before parsing it', () => {
      const text = `# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`;
      const err = failure(text, 'big.yaml');
      expect(err.code).toBe('INPUT_TOO_LARGE');
      expect(err.message).toBe(
        `big.yaml is ${MAX_MANIFEST_BYTES + 3} bytes; a manifest file may be at most 4194304 bytes (4 MiB)`,
      );
    });

    it('counts bytes, not characters, against the limit', () => {
      const text = `# ${'é'.repeat(MAX_MANIFEST_BYTES / 2)}\n`;
      expect(failure(text).code).toBe('INPUT_TOO_LARGE');
    });

    it('stops a billion-laughs alias bomb', () => {
      const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 9; i++) {
        const prev = String.fromCharCode(96 + i);
        const next = String.fromCharCode(97 + i);
        lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(',')}]`);
      }
      const err = failure(
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n${lines.map((l) => `  ${l}`).join('\n')}\n`,
      );
      expect(err.details).toEqual([
        'mesh.yaml:1: yaml: more than 100 aliases expanded; remove the anchors and aliases (a YAML alias bomb looks like this)',
      ]);
    });

    it('refuses deeply nested flow collections without overflowing the stack', () => {
      const depth = 100_000;
      const err = failure(
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: ${'['.repeat(depth)}${']'.repeat(depth)}\n`,
      );
      expect(err.details).toEqual([
        expect.stringMatching(
          /^mesh\.yaml:\d+: <document>: nests deeper than 64 levels; no meshca resource is that deep$/,
        ),
      ]);
    });

    it('refuses deeply nested mappings in a loose field', () => {
      let nested = 'x';
      for (let i = 0; i < 80; i++) nested = `{a: ${nested}}`;
      const text = ACME_ISSUER.replace('region: eu-west-1', `region: ${nested}`);
      expect(failure(text).details).toEqual([
        'mesh.yaml:1: <document>: nests deeper than 64 levels; no meshca resource is that deep',
      ]);
    });

    it('reports a huge number of bad fields without giving up, each once', () => {
      const labels = Array.from({ length: 500 }, (_, i) => `    "bad key ${i}": v`).join('\n');
      const err = failure(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many\n  labels:\n${labels}\n`);
      expect(err.details).toHaveLength(500);
      expect(err.details[0]).toMatch(
        /^mesh\.yaml:6: metadata\.labels\["bad key 0"\]: key "bad key 0": must be a qualified name/,
      );
    });

    it('never throws anything but a MeshcaError on arbitrary text', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), (text) => {
          try {
            parseManifests(text, 'fuzz.yaml');
          } catch (err) {
            expect(isMeshcaError(err, 'INVALID_RESOURCE')).toBe(true);
          }
        }),
        { numRuns: 300 },
      );
    });

    it('never throws anything but a MeshcaError on arbitrary JSON values', () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
          try {
            parseManifests(JSON.stringify(value), 'fuzz.json');
          } catch (err) {
            expect(isMeshcaError(err, 'INVALID_RESOURCE')).toBe(true);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});

describe('toYaml and toJson', () => {
  it('write resources that read back identically', () => {
    const resources = parseManifests(ALL.join('---\n'), 'mesh.yaml');
    expect(parseManifests(toYaml(resources), 'out.yaml')).toEqual(resources);
    expect(parseManifests(toJson(resources), 'out.json')).toEqual(resources);
  });

  it('keep long base64 values on one line', () => {
    const [secret] = parseManifests(KUBECTL_TLS_SECRET, 'tls.yaml');
    const yamlText = toYaml(secret ?? expect.unreachable());
    const line = yamlText.split('\n').find((l) => l.trimStart().startsWith('tls.crt:'));
    expect(line?.length).toBeGreaterThan(500);
  });

  it('write one resource as one document or object, and a list as documents or a v1 List', () => {
    const [issuer] = parseManifests(SELF_SIGNED_CLUSTER_ISSUER, 'a.yaml');
    if (issuer === undefined) return expect.unreachable();
    expect(toYaml(issuer)).toBe(
      'apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: selfsigned\nspec:\n  selfSigned: {}\n',
    );
    expect(toYaml([issuer, issuer]).split('---\n')).toHaveLength(2);
    expect(JSON.parse(toJson(issuer))).toEqual(issuer);
    expect(JSON.parse(toJson([issuer]))).toEqual({ apiVersion: 'v1', kind: 'List', items: [issuer] });
  });
});
