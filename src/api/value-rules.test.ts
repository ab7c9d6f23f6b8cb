import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkAbsoluteUri,
  checkBase64,
  checkCertificateDnsName,
  checkCidr,
  checkDataKey,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkDnsName,
  checkEmailAddress,
  checkGoDuration,
  checkHttpUrl,
  checkIpAddress,
  checkLabelValue,
  checkOid,
  checkQualifiedName,
} from './value-rules.js';

type Rule = (value: string) => string | undefined;

const valid: Array<[string, Rule, string]> = [
  ['DNS-1123 subdomain', checkDns1123Subdomain, 'istio-ca'],
  ['DNS-1123 subdomain', checkDns1123Subdomain, 'cert-manager.io.v1'],
  ['DNS-1123 subdomain', checkDns1123Subdomain, 'a'.repeat(63) + '.' + 'b'.repeat(63)],
  ['DNS-1123 label', checkDns1123Label, 'istio-system'],
  ['qualified name', checkQualifiedName, 'app.kubernetes.io/name'],
  ['qualified name', checkQualifiedName, 'use-dns01'],
  ['label value', checkLabelValue, ''],
  ['label value', checkLabelValue, 'v1.2_3'],
  ['data key', checkDataKey, 'tls.crt'],
  ['data key', checkDataKey, 'keystore.p12'],
  ['DNS name', checkDnsName, '*.example.com'],
  ['DNS name', checkDnsName, 'istiod.istio-system.svc'],
  ['DNS name', checkDnsName, '_acme-challenge.example.com'],
  ['DNS name', checkDnsName, 'Example.COM'],
  ['IP address', checkIpAddress, '10.0.0.1'],
  ['IP address', checkIpAddress, 'fd00::1'],
  ['IP address', checkIpAddress, '::1'],
  ['CIDR', checkCidr, '10.0.0.0/8'],
  ['CIDR', checkCidr, 'fd00::/8'],
  ['URI', checkAbsoluteUri, 'spiffe://cluster.local/ns/default/sa/web'],
  ['URI', checkAbsoluteUri, 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66'],
  ['HTTP URL', checkHttpUrl, 'https://vault.example.com:8200'],
  ['e-mail', checkEmailAddress, 'security@example.com'],
  ['e-mail', checkEmailAddress, 'root@localhost'],
  ['e-mail', checkEmailAddress, 'a@b.c'],
  ['e-mail', checkEmailAddress, 'first.last+tag@sub.example.com'],
  ['e-mail', checkEmailAddress, "o'brien!#$%&*/=?^_`{|}~-@example.com"],
  ['e-mail', checkEmailAddress, 'ops@-edge_1.example'],
  ['certificate DNS name', checkCertificateDnsName, 'example.com.'],
  ['certificate DNS name', checkCertificateDnsName, '*.example.com.'],
  ['certificate DNS name', checkCertificateDnsName, 'localhost'],
  [
    'certificate DNS name',
    checkCertificateDnsName,
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.`,
  ],
  ['OID', checkOid, '1.3.6.1.4.1.311.20.2.3'],
  ['base64', checkBase64, 'aGVsbG8='],
  ['base64', checkBase64, ''],
  ['Go duration', checkGoDuration, '2h45m30.5s'],
];

const invalid: Array<[string, Rule, string, string]> = [
  ['DNS-1123 subdomain', checkDns1123Subdomain, '', 'must not be empty'],
  ['DNS-1123 subdomain', checkDns1123Subdomain, 'Istio-CA', 'must be a lowercase RFC 1123 subdomain'],
  ['DNS-1123 subdomain', checkDns1123Subdomain, '-istio', 'must be a lowercase RFC 1123 subdomain'],
  ['DNS-1123 subdomain', checkDns1123Subdomain, 'istio_ca', 'must be a lowercase RFC 1123 subdomain'],
  [
    'DNS-1123 subdomain',
    checkDns1123Subdomain,
    'a'.repeat(254),
    'must be at most 253 characters (it has 254)',
  ],
  ['DNS-1123 label', checkDns1123Label, 'istio.system', 'must be a lowercase RFC 1123 label'],
  ['DNS-1123 label', checkDns1123Label, 'a'.repeat(64), 'must be at most 63 characters (it has 64)'],
  [
    'qualified name',
    checkQualifiedName,
    'Example.com/name',
    'prefix "Example.com" must be a lowercase RFC 1123 subdomain',
  ],
  ['qualified name', checkQualifiedName, 'app/', 'must be a qualified name'],
  ['qualified name', checkQualifiedName, '-name', 'must be a qualified name'],
  ['label value', checkLabelValue, 'has space', 'must be a label value'],
  ['label value', checkLabelValue, 'x'.repeat(64), 'must be a label value'],
  ['data key', checkDataKey, '..', 'must be a data key'],
  ['data key', checkDataKey, 'tls/crt', 'must be a data key'],
  ['DNS name', checkDnsName, 'a.*.example.com', 'may hold a wildcard only as the whole leftmost label'],
  ['DNS name', checkDnsName, 'foo*.example.com', 'may hold a wildcard only as the whole leftmost label'],
  ['DNS name', checkDnsName, '*', 'may hold a wildcard only as the whole leftmost label'],
  ['DNS name', checkDnsName, 'example..com', 'must not have an empty label'],
  [
    'DNS name',
    checkDnsName,
    '-bad.example.com',
    'label "-bad" must hold only letters, digits, "-" and "_", and not start or end with "-"',
  ],
  ['DNS name', checkDnsName, 'exa mple.com', 'must hold only letters'],
  ['DNS name', checkDnsName, 'a'.repeat(64) + '.com', 'must not have a label longer than 63 characters'],
  ['IP address', checkIpAddress, '10.0.0.256', 'must be an IPv4 or IPv6 address'],
  ['IP address', checkIpAddress, 'localhost', 'must be an IPv4 or IPv6 address'],
  ['CIDR', checkCidr, '10.0.0.0/33', 'must be a CIDR range'],
  ['CIDR', checkCidr, '10.0.0.0', 'must be a CIDR range'],
  ['CIDR', checkCidr, 'fd00::/129', 'must be a CIDR range'],
  ['URI', checkAbsoluteUri, '/ns/default/sa/web', 'must be an absolute URI with a scheme'],
  ['URI', checkAbsoluteUri, 'cluster.local/ns/default', 'must be an absolute URI with a scheme'],
  ['HTTP URL', checkHttpUrl, 'vault.example.com', 'must be an http or https URL'],
  ['HTTP URL', checkHttpUrl, 'ftp://vault.example.com', 'must be an http or https URL, not ftp'],
  ['e-mail', checkEmailAddress, 'security.example.com', 'must be an e-mail address'],
  ['e-mail', checkEmailAddress, '', 'must not be empty'],
  ['e-mail', checkEmailAddress, 'Root <root@localhost>', 'must be the address alone, without a display name'],
  ['e-mail', checkEmailAddress, '<root@localhost>', 'must be the address alone, without a display name'],
  ['e-mail', checkEmailAddress, 'root@localhost (admin)', 'must not contain spaces'],
  ['e-mail', checkEmailAddress, ' root@localhost', 'must not contain spaces'],
  ['e-mail', checkEmailAddress, 'root@localhost\n', 'must not contain spaces or line breaks'],
  ['e-mail', checkEmailAddress, '"q"@example.com', 'must not quote the local part'],
  ['e-mail', checkEmailAddress, 'a..b@example.com', 'local part "a..b" must be letters'],
  ['e-mail', checkEmailAddress, '.a@example.com', 'local part ".a" must be letters'],
  ['e-mail', checkEmailAddress, 'a@b@example.com', 'local part "a@b" must be letters'],
  ['e-mail', checkEmailAddress, '@example.com', 'local part "" must be letters'],
  ['e-mail', checkEmailAddress, 'a@', 'domain "" must be labels'],
  ['e-mail', checkEmailAddress, 'a@example.com.', 'domain "example.com." must be labels'],
  ['e-mail', checkEmailAddress, 'a@exa+mple.com', 'domain "exa+mple.com" must be labels'],
  ['e-mail', checkEmailAddress, 'user@[10.0.0.1]', 'must name a domain, not an address literal'],
  ['e-mail', checkEmailAddress, 'üser@example.com', 'must be ASCII'],
  ['e-mail', checkEmailAddress, 'a,b@example.com', 'local part "a,b" must be letters'],
  ['certificate DNS name', checkCertificateDnsName, 'example.com..', 'may end with at most one "."'],
  ['certificate DNS name', checkCertificateDnsName, '.', 'must not have an empty label'],
  ['certificate DNS name', checkCertificateDnsName, '.example.com', 'must not have an empty label'],
  ['certificate DNS name', checkCertificateDnsName, 'exa mple.com.', 'must hold only letters'],
  [
    'certificate DNS name',
    checkCertificateDnsName,
    `${'a'.repeat(250)}.com.`,
    'must be at most 253 characters',
  ],
  ['DNS name', checkDnsName, 'example.com.', 'must not have an empty label'],
  ['OID', checkOid, '1.3.6.1.04', 'must be an object identifier in dotted form'],
  ['OID', checkOid, '3.1', 'must be an object identifier in dotted form'],
  ['base64', checkBase64, 'aGVsbG8', 'must be standard base64 with padding'],
  ['base64', checkBase64, 'aGV sbG8=', 'must be standard base64 with padding'],
  ['base64', checkBase64, 'aGVsbG8_', 'must be standard base64 with padding'],
  [
    'Go duration',
    checkGoDuration,
    '1d',
    'must be a Go duration such as "720h" or "1h30m"; unit "d" is not a Go duration unit',
  ],
];

describe('value rules', () => {
  it.each(valid)('accept a valid %s: %j', (_what, rule, value) => {
    expect(rule(value)).toBeUndefined();
  });

  it.each(invalid)('reject an invalid %s %j and say why', (_what, rule, value, why) => {
    expect(rule(value)).toContain(why);
  });

  const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);

  it('accept every generated DNS-1123 subdomain, and the same name as a certificate DNS name', () => {
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 3 }), (labels) => {
        const name = labels.join('.');
        expect(checkDns1123Subdomain(name)).toBeUndefined();
        expect(checkDnsName(name)).toBeUndefined();
        expect(checkDnsName(`*.${name}`)).toBeUndefined();
      }),
    );
  });

  it('reject any name holding a character outside a-z, 0-9, "-" and "."', () => {
    const bad = fc.constantFrom('_', 'A', ' ', '/', ':', 'é', '*');
    fc.assert(
      fc.property(label, bad, label, (a, c, b) => {
        expect(checkDns1123Subdomain(`${a}${c}${b}`)).toBeDefined();
        expect(checkDns1123Label(`${a}${c}${b}`)).toBeDefined();
      }),
    );
  });

  it('encode every byte string as base64 that the base64 rule accepts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(checkBase64(Buffer.from(bytes).toString('base64'))).toBeUndefined();
      }),
    );
  });

  it('never throw on arbitrary text', () => {
    const rules: Rule[] = [
      checkDns1123Subdomain,
      checkDns1123Label,
      checkQualifiedName,
      checkDnsName,
      checkIpAddress,
      checkCidr,
      checkAbsoluteUri,
      checkHttpUrl,
      checkEmailAddress,
      checkCertificateDnsName,
      checkOid,
      checkBase64,
      checkGoDuration,
    ];
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        for (const rule of rules) {
          const why = rule(text);
          expect(why === undefined || why.length > 0).toBe(true);
        }
      }),
    );
  });
});
