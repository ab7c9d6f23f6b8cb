import { create, createFileRegistry, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, file_google_protobuf_struct } from '@bufbuild/protobuf/wkt';

/** The Istio CA service as a @bufbuild/protobuf descriptor, built from its FileDescriptorProto. */
export function istioServiceDesc(): DescService {
  const file = create(FileDescriptorProtoSchema, {
    name: 'ca.proto',
    package: 'istio.v1.auth',
    syntax: 'proto3',
    dependency: ['google/protobuf/struct.proto'],
    messageType: [
      {
        name: 'IstioCertificateRequest',
        field: [
          { name: 'csr', number: 1, type: 9, label: 1, jsonName: 'csr' },
          { name: 'validity_duration', number: 3, type: 3, label: 1, jsonName: 'validityDuration' },
          {
            name: 'metadata',
            number: 4,
            type: 11,
            label: 1,
            typeName: '.google.protobuf.Struct',
            jsonName: 'metadata',
          },
        ],
      },
      {
        name: 'IstioCertificateResponse',
        field: [{ name: 'cert_chain', number: 1, type: 9, label: 3, jsonName: 'certChain' }],
      },
    ],
    service: [
      {
        name: 'IstioCertificateService',
        method: [
          {
            name: 'CreateCertificate',
            inputType: '.istio.v1.auth.IstioCertificateRequest',
            outputType: '.istio.v1.auth.IstioCertificateResponse',
          },
        ],
      },
    ],
  });
  const registry = createFileRegistry(file, (name) =>
    name === 'google/protobuf/struct.proto' ? file_google_protobuf_struct : undefined,
  );
  const svc = registry.getService('istio.v1.auth.IstioCertificateService');
  if (svc === undefined) throw new Error('service descriptor not built');
  return svc;
}
