/**
 * src/api/proto/ca.proto as a protobuf.js JSON descriptor, with the google.protobuf.Struct types it
 * imports (named as protobuf.js's bundled well-known types name them, so both load alike). Embedded in code because the build (tsc) copies no .proto files into dist/; a test
 * checks it encodes exactly as the .proto does.
 */
export const ISTIO_CA_DESCRIPTOR = {
  nested: {
    istio: {
      nested: {
        v1: {
          nested: {
            auth: {
              nested: {
                IstioCertificateRequest: {
                  fields: {
                    csr: { type: 'string', id: 1 },
                    validity_duration: { type: 'int64', id: 3 },
                    metadata: { type: 'google.protobuf.Struct', id: 4 },
                  },
                },
                IstioCertificateResponse: {
                  fields: { cert_chain: { rule: 'repeated', type: 'string', id: 1 } },
                },
                IstioCertificateService: {
                  methods: {
                    CreateCertificate: { requestType: 'IstioCertificateRequest', responseType: 'IstioCertificateResponse' },
                  },
                },
              },
            },
          },
        },
      },
    },
    google: {
      nested: {
        protobuf: {
          nested: {
            Struct: { fields: { fields: { keyType: 'string', type: 'Value', id: 1 } } },
            Value: {
              oneofs: { kind: { oneof: ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'] } },
              fields: {
                nullValue: { type: 'NullValue', id: 1 },
                numberValue: { type: 'double', id: 2 },
                stringValue: { type: 'string', id: 3 },
                boolValue: { type: 'bool', id: 4 },
                structValue: { type: 'Struct', id: 5 },
                listValue: { type: 'ListValue', id: 6 },
              },
            },
            NullValue: { values: { NULL_VALUE: 0 } },
            ListValue: { fields: { values: { rule: 'repeated', type: 'Value', id: 1 } } },
          },
        },
      },
    },
  },
} as const;

/** The full gRPC method path. */
export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
