{
  "targets": [
    {
      "target_name": "meshca_native",
      "sources": ["native/ecdsa.cc"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17"],
      "defines": ["OPENSSL_SUPPRESS_DEPRECATED", "NAPI_VERSION=8"]
    }
  ]
}
