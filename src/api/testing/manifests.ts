/*
 * Realistic cert-manager and Kubernetes manifests, written from cert-manager's documented field
 * lists and real kubectl output, for the api tests. Each is one YAML document.
 */

/** The self-signed ClusterIssuer that bootstraps a mesh root. */
export const SELF_SIGNED_CLUSTER_ISSUER = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: selfsigned
spec:
  selfSigned: {}
`;

/** The mesh root as an isCA Certificate signed by the self-signed issuer. */
export const ROOT_CERTIFICATE = `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: mesh-root
  namespace: cert-manager
spec:
  isCA: true
  commonName: mesh-root
  duration: 262800h
  secretName: mesh-root
  privateKey:
    algorithm: ECDSA
    size: 256
  issuerRef:
    name: selfsigned
    kind: ClusterIssuer
    group: cert-manager.io
`;

/** The CA Issuer backed by the root's Secret ("istio-intermediate-ca" of DESIGN §1). */
export const CA_ISSUER = `apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: istio-intermediate-ca
  namespace: istio-system
spec:
  ca:
    secretName: mesh-root
    crlDistributionPoints:
      - http://pki.example.com/root.crl
    ocspServers:
      - http://ocsp.example.com
    issuingCertificateURLs:
      - http://pki.example.com/root.crt
`;

/** The per-cluster intermediate: isCA, 720h, as istio-csr's docs show it. */
export const ISTIO_CA_CERTIFICATE = `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: istio-ca
  namespace: istio-system
  labels:
    app.kubernetes.io/part-of: istio
spec:
  isCA: true
  duration: 720h
  renewBefore: 240h
  secretName: istio-ca
  commonName: istio-intermediate-ca.cluster.local
  subject:
    organizations:
      - cluster.local
      - cert-manager
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
  usages:
    - digital signature
    - cert sign
    - crl sign
  issuerRef:
    name: istio-intermediate-ca
    kind: Issuer
    group: cert-manager.io
`;

/** A Vault ClusterIssuer logging in with AppRole. */
export const VAULT_APPROLE_CLUSTER_ISSUER = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: vault-issuer
spec:
  vault:
    server: https://vault.example.com:8200
    path: pki_int/sign/mesh
    namespace: admin/mesh
    caBundleSecretRef:
      name: vault-ca
      key: ca.crt
    auth:
      appRole:
        path: approle
        roleId: 6b1e6f0c-3c1d-4bd8-9e8f-2a6f1a1c0d57
        secretRef:
          name: cert-manager-vault-approle
          key: secretId
`;

/** An ACME issuer with an http01 solver for one zone and dns01 RFC 2136 for wildcards. */
export const ACME_ISSUER = `apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: letsencrypt
  namespace: istio-ingress
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: platform@example.com
    profile: tlsserver
    privateKeySecretRef:
      name: letsencrypt-account
    solvers:
      - selector:
          dnsNames:
            - www.example.com
        http01:
          gatewayHTTPRoute:
            parentRefs:
              - name: public
                namespace: istio-ingress
                kind: Gateway
      - selector:
          dnsZones:
            - example.com
          matchLabels:
            use-dns01: "true"
        dns01:
          cnameStrategy: Follow
          rfc2136:
            nameserver: 10.0.0.53:53
            tsigKeyName: cert-manager
            tsigAlgorithm: HMACSHA512
            tsigSecretSecretRef:
              name: tsig-secret
              key: tsig-secret-key
      - dns01:
          route53:
            region: eu-west-1
            hostedZoneID: Z2ABCDEF
`;

/** A gateway Certificate with a wildcard, signed through the ACME issuer. */
export const GATEWAY_CERTIFICATE = `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: gateway-tls
  namespace: istio-ingress
spec:
  secretName: gateway-tls
  secretTemplate:
    labels:
      app: gateway
    annotations:
      example.com/owner: platform
  dnsNames:
    - example.com
    - "*.example.com"
  renewBeforePercentage: 25
  privateKey:
    algorithm: RSA
    size: 4096
    encoding: PKCS8
  additionalOutputFormats:
    - type: CombinedPEM
  issuerRef:
    name: letsencrypt
`;

/** A CertificateRequest holding a CSR openssl made (P-256, CN and DNS SAN web.example.com). */
export const CERTIFICATE_REQUEST = `apiVersion: cert-manager.io/v1
kind: CertificateRequest
metadata:
  name: web-1
  namespace: default
spec:
  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlJQkF6Q0JxUUlCQURBYU1SZ3dGZ1lEVlFRRERBOTNaV0l1WlhoaGJYQnNaUzVqYjIwd1dUQVRCZ2NxaGtqTwpQUUlCQmdncWhrak9QUU1CQndOQ0FBVEZZUXQwc0V0RDh4SExwSVJ6OUdmUEd1b09wMmpvNVRzcWM5cDFnUExXClNaTVFUZ3NsY2RDS3B1Q1ZmM0dpbjJ6UmRIYXVUNlMxcFBsTHBMYkV5MDM0b0Mwd0t3WUpLb1pJaHZjTkFRa08KTVI0d0hEQWFCZ05WSFJFRUV6QVJnZzkzWldJdVpYaGhiWEJzWlM1amIyMHdDZ1lJS29aSXpqMEVBd0lEU1FBdwpSZ0loQU52b1BZZndmZWtVZGRnKzY2OEhyT1dUVDY4UXR5cU5VcGJjd0I0ZTdnN1RBaUVBa1pxK2Zic3l1T0Q1CmVJa1dkZkc4NTVDOWZtSUtML3pQZEM1OFFWNTB2MkE9Ci0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo=
  duration: 24h
  isCA: false
  usages:
    - server auth
    - client auth
  username: system:serviceaccount:cert-manager:cert-manager
  groups:
    - system:serviceaccounts
  extra:
    scopes: [a, b]
  issuerRef:
    name: istio-ca-issuer
`;

/** Verbatim: kubectl create secret tls gateway-tls --cert c.pem --key k.pem -n istio-ingress --dry-run=client -o yaml (a throwaway key). */
export const KUBECTL_TLS_SECRET = `apiVersion: v1
data:
  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJiakNDQVJXZ0F3SUJBZ0lVWDBSS2wrL0d2REVGOUlVeXdyVWVEOVlCeUcwd0NnWUlLb1pJemowRUF3SXcKRFRFTE1Ba0dBMVVFQXd3Q1ozY3dIaGNOTWpZeE1USXlNVFl3TnpJM1doY05Nall4TVRJek1UWXdOekkzV2pBTgpNUXN3Q1FZRFZRUUREQUpuZHpCWk1CTUdCeXFHU000OUFnRUdDQ3FHU000OUF3RUhBMElBQkJJMEV3MVZuS3V2CnFyVXhKUlpLbTdJRVhyODBzZUVRTUp1S2FYQkY1d241Wjloby81Y3MvK1BzNTBFLzBrZVF1ZmhwTU9qTE9iV1AKSHlkd0ZZU1UyL0tqVXpCUk1CMEdBMVVkRGdRV0JCU2UvOVNSLzIycUg2Zzh5S1JLdTBTa2JMSDZRREFmQmdOVgpIU01FR0RBV2dCU2UvOVNSLzIycUg2Zzh5S1JLdTBTa2JMSDZRREFQQmdOVkhSTUJBZjhFQlRBREFRSC9NQW9HCkNDcUdTTTQ5QkFNQ0EwY0FNRVFDSUhES2NwZkxUUThJM1dNWmFFS3NlVU5yT3VKZGpvLzIwZGlLWkN1ZDVNQ24KQWlBcnFBdUFLeEROdGs0eDMyd0ZoZDk4dndJSHhFWURDNlhHYlp1cDMxYSsvZz09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
  tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ2FldUdmWHJUSUsrekRyNmUKTEtQSm9Oa3BLcUhiZlVGOExuOWFoR3Y3VzFpaFJBTkNBQVFTTkJNTlZaeXJyNnExTVNVV1NwdXlCRjYvTkxIaApFRENiaW1sd1JlY0orV2ZZYVArWExQL2o3T2RCUDlKSGtMbjRhVERveXptMWp4OG5jQldFbE52eQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==
kind: Secret
metadata:
  creationTimestamp: null
  name: gateway-tls
  namespace: istio-ingress
type: kubernetes.io/tls
`;
