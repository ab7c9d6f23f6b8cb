// meshca's narrow ECDSA fast path (P-256 and P-384 only): verify a CSR's signature with a public
// point it has never seen, and sign with the CA key, through the OpenSSL that Node itself carries.
//
// Why by hand: node:crypto has no way to verify with a raw EC point, so every CSR's key must be
// imported as a KeyObject first, and OpenSSL 3 then converts that key for its provider on the
// first verify. Measured here (bench/sign): import + first verify + sign cost twice the raw
// verify + sign; this file does the same checks for about half that (the point is still checked
// to be on the curve, the signature still strict DER). No npm package offers this.
// The JavaScript side (src/pki/native/native-ecdsa.ts) owns every policy decision; this file only
// computes, and never logs.
#include <node_api.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include <cstring>

namespace {

constexpr int kCurves = 2;          // 0: P-256, 1: P-384
constexpr int kCurveNids[kCurves] = {NID_X9_62_prime256v1, NID_secp384r1};
constexpr size_t kFieldBytes[kCurves] = {32, 48};

// One per Node environment (main thread, each worker thread): the verifying key and point are
// reused between calls, which a single thread does one at a time.
struct State {
  EC_KEY* verifyKey[kCurves] = {nullptr, nullptr};
  EC_POINT* point[kCurves] = {nullptr, nullptr};
};

void FreeState(napi_env, void* data, void*) {
  State* s = static_cast<State*>(data);
  for (int i = 0; i < kCurves; i++) {
    EC_POINT_free(s->point[i]);
    EC_KEY_free(s->verifyKey[i]);
  }
  delete s;
}

struct Signer {
  EC_KEY* key;
  int curve;
};

void FreeSigner(napi_env, void* data, void*) {
  Signer* s = static_cast<Signer*>(data);
  EC_KEY_free(s->key);  // clears the private scalar
  delete s;
}

napi_value Throw(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_MESHCA_NATIVE", message);
  return nullptr;
}

bool GetBytes(napi_env env, napi_value v, const unsigned char** data, size_t* len) {
  bool isBuffer = false;
  if (napi_is_buffer(env, v, &isBuffer) != napi_ok || !isBuffer) return false;
  void* p = nullptr;
  if (napi_get_buffer_info(env, v, &p, len) != napi_ok) return false;
  static const unsigned char empty = 0;
  *data = p != nullptr ? static_cast<const unsigned char*>(p) : &empty;
  return true;
}

bool GetIndex(napi_env env, napi_value v, int limit, int* out) {
  int32_t i = -1;
  if (napi_get_value_int32(env, v, &i) != napi_ok || i < 0 || i >= limit) return false;
  *out = i;
  return true;
}

// 0: SHA-256, 1: SHA-384, 2: SHA-512. Returns the digest length.
size_t Digest(int hash, const unsigned char* data, size_t len, unsigned char out[64]) {
  switch (hash) {
    case 0: SHA256(data, len, out); return 32;
    case 1: SHA384(data, len, out); return 48;
    default: SHA512(data, len, out); return 64;
  }
}

napi_value MakeInt(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

// Decodes an uncompressed point (0x04 ‖ X ‖ Y) into s->point[curve]; false unless it is a
// point on the curve other than infinity.
bool LoadPoint(State* s, int curve, const unsigned char* p, size_t len) {
  if (len != 1 + 2 * kFieldBytes[curve] || p[0] != 4) return false;
  const EC_GROUP* group = EC_KEY_get0_group(s->verifyKey[curve]);
  bool ok = EC_POINT_oct2point(group, s->point[curve], p, len, nullptr) == 1 &&
            EC_POINT_is_at_infinity(group, s->point[curve]) == 0;
  ERR_clear_error();
  return ok;
}

// pointValid(curve, point) → boolean
napi_value PointValid(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  State* s = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_get_instance_data(env, reinterpret_cast<void**>(&s));
  int curve;
  const unsigned char* point;
  size_t pointLen;
  if (argc != 2 || !GetIndex(env, argv[0], kCurves, &curve) || !GetBytes(env, argv[1], &point, &pointLen))
    return Throw(env, "pointValid(curve, point)");
  napi_value r;
  napi_get_boolean(env, LoadPoint(s, curve, point, pointLen), &r);
  return r;
}

// verify(curve, point, hash, data, signature) → 1 valid, 0 not valid, -1 the point is not on
// the curve, -2 the signature is not a strict DER ECDSA-Sig-Value.
napi_value Verify(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  State* s = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_get_instance_data(env, reinterpret_cast<void**>(&s));
  int curve, hash;
  const unsigned char *point, *data, *sig;
  size_t pointLen, dataLen, sigLen;
  if (argc != 5 || !GetIndex(env, argv[0], kCurves, &curve) || !GetBytes(env, argv[1], &point, &pointLen) ||
      !GetIndex(env, argv[2], 3, &hash) || !GetBytes(env, argv[3], &data, &dataLen) ||
      !GetBytes(env, argv[4], &sig, &sigLen))
    return Throw(env, "verify(curve, point, hash, data, signature)");
  if (!LoadPoint(s, curve, point, pointLen)) return MakeInt(env, -1);
  if (EC_KEY_set_public_key(s->verifyKey[curve], s->point[curve]) != 1) {
    ERR_clear_error();
    return MakeInt(env, -1);
  }
  // Strict DER: it decodes, nothing follows, and it re-encodes to the same bytes.
  const unsigned char* q = sig;
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &q, static_cast<long>(sigLen));
  if (es == nullptr || q != sig + sigLen) {
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return MakeInt(env, -2);
  }
  unsigned char* der = nullptr;
  int derLen = i2d_ECDSA_SIG(es, &der);
  bool strict = derLen > 0 && static_cast<size_t>(derLen) == sigLen && std::memcmp(der, sig, sigLen) == 0;
  OPENSSL_free(der);
  if (!strict) {
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return MakeInt(env, -2);
  }
  unsigned char digest[64];
  size_t digestLen = Digest(hash, data, dataLen, digest);
  int ok = ECDSA_do_verify(digest, static_cast<int>(digestLen), es, s->verifyKey[curve]);
  ECDSA_SIG_free(es);
  ERR_clear_error();
  return MakeInt(env, ok == 1 ? 1 : 0);
}

// createSigner(curve, d, point) → an opaque signer; throws unless d is in [1, n-1] and d·G is
// the given uncompressed point.
napi_value CreateSigner(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int curve;
  const unsigned char *d, *point;
  size_t dLen, pointLen;
  if (argc != 3 || !GetIndex(env, argv[0], kCurves, &curve) || !GetBytes(env, argv[1], &d, &dLen) ||
      !GetBytes(env, argv[2], &point, &pointLen))
    return Throw(env, "createSigner(curve, d, point)");
  if (dLen != kFieldBytes[curve]) return Throw(env, "the private scalar has the wrong length for its curve");
  EC_KEY* key = EC_KEY_new_by_curve_name(kCurveNids[curve]);
  BIGNUM* priv = BN_secure_new();
  EC_POINT* pub = nullptr;
  EC_POINT* expected = nullptr;
  const char* error = nullptr;
  if (key == nullptr || priv == nullptr || BN_bin2bn(d, static_cast<int>(dLen), priv) == nullptr) {
    error = "out of memory";
  } else {
    const EC_GROUP* group = EC_KEY_get0_group(key);
    pub = EC_POINT_new(group);
    expected = EC_POINT_new(group);
    if (BN_is_zero(priv) || BN_cmp(priv, EC_GROUP_get0_order(group)) >= 0) {
      error = "the private scalar is out of range";
    } else if (pub == nullptr || expected == nullptr ||
               EC_POINT_mul(group, pub, priv, nullptr, nullptr, nullptr) != 1 ||
               EC_KEY_set_private_key(key, priv) != 1 || EC_KEY_set_public_key(key, pub) != 1) {
      error = "the private key cannot be loaded";
    } else if (EC_POINT_oct2point(group, expected, point, pointLen, nullptr) != 1 ||
               EC_POINT_cmp(group, pub, expected, nullptr) != 0) {
      error = "the private scalar does not match the public point";
    }
  }
  BN_clear_free(priv);
  EC_POINT_free(pub);
  EC_POINT_free(expected);
  ERR_clear_error();
  if (error != nullptr) {
    EC_KEY_free(key);
    return Throw(env, error);
  }
  Signer* signer = new Signer{key, curve};
  napi_value r;
  if (napi_create_external(env, signer, FreeSigner, nullptr, &r) != napi_ok) {
    FreeSigner(env, signer, nullptr);
    return Throw(env, "cannot create the signer");
  }
  return r;
}

// sign(signer, hash, data) → DER ECDSA-Sig-Value
napi_value Sign(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_valuetype type = napi_undefined;
  Signer* signer = nullptr;
  int hash;
  const unsigned char* data;
  size_t dataLen;
  if (argc != 3 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, argv[0], reinterpret_cast<void**>(&signer)) != napi_ok ||
      !GetIndex(env, argv[1], 3, &hash) || !GetBytes(env, argv[2], &data, &dataLen))
    return Throw(env, "sign(signer, hash, data)");
  unsigned char digest[64];
  size_t digestLen = Digest(hash, data, dataLen, digest);
  unsigned char sig[160];
  unsigned int sigLen = sizeof sig;
  if (ECDSA_size(signer->key) > static_cast<int>(sizeof sig) ||
      ECDSA_sign(0, digest, static_cast<int>(digestLen), sig, &sigLen, signer->key) != 1) {
    ERR_clear_error();
    return Throw(env, "ECDSA signing failed");
  }
  napi_value r;
  void* out;
  napi_create_buffer_copy(env, sigLen, sig, &out, &r);
  return r;
}

}  // namespace

NAPI_MODULE_INIT() {
  State* s = new State();
  for (int i = 0; i < kCurves; i++) {
    s->verifyKey[i] = EC_KEY_new_by_curve_name(kCurveNids[i]);
    if (s->verifyKey[i] != nullptr) s->point[i] = EC_POINT_new(EC_KEY_get0_group(s->verifyKey[i]));
    if (s->point[i] == nullptr) {
      FreeState(env, s, nullptr);
      napi_throw_error(env, "ERR_MESHCA_NATIVE", "cannot set up the EC curves");
      return nullptr;
    }
  }
  napi_set_instance_data(env, s, FreeState, nullptr);
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"pointValid", PointValid}, {"verify", Verify}, {"createSigner", CreateSigner}, {"sign", Sign}};
  for (const auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}
