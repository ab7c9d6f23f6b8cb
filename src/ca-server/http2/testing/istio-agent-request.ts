/**
 * The header fields of a CreateCertificate call as an Istio agent (grpc-go) sends them, for the
 * HPACK tests and bench/hpack.
 */
export function istioAgentRequestFields(jwt: string): [string, string][] {
  return [
    [':method', 'POST'],
    [':scheme', 'https'],
    [':path', '/istio.v1.auth.IstioCertificateService/CreateCertificate'],
    [':authority', 'istiod.istio-system.svc:15012'],
    ['content-type', 'application/grpc'],
    ['user-agent', 'grpc-go/1.60.1'],
    ['te', 'trailers'],
    ['grpc-timeout', '29999831u'],
    ['authorization', `Bearer ${jwt}`],
    ['clusterid', 'Kubernetes'],
  ];
}
