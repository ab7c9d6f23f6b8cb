import { describe, expect, it } from 'vitest';
import { buildCsr, generatePrivateKey, parseCsr } from '../../pki/index.js';
import { checkWorkloadCsr } from './workload-csr-policy.js';

const ID = 'spiffe://cluster.local/ns/a/sa/b';

describe('checkWorkloadCsr and otherNames', () => {
  it('refuses a workload CSR that carries a UTF8 otherName next to its SPIFFE ID', () => {
    const csr = parseCsr(
      buildCsr({
        key: generatePrivateKey({ algorithm: 'ECDSA' }),
        sans: { uris: [ID], otherNames: [{ oid: '1.3.6.1.4.1.311.20.2.3', utf8Value: 'a@b' }] },
      }),
    );
    expect(() => checkWorkloadCsr(csr, ID)).toThrow('otherName names');
  });

  it('accepts the same CSR without the otherName', () => {
    const csr = parseCsr(buildCsr({ key: generatePrivateKey({ algorithm: 'ECDSA' }), sans: { uris: [ID] } }));
    expect(() => checkWorkloadCsr(csr, ID)).not.toThrow();
  });
});
