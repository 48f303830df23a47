/**
 * Key generation and key-algorithm facts, all native (node:crypto): workload keys are ECDSA P-256 by
 * default and RSA 2048 on request (Istio's defaults, and what the SPIFFE X.509-SVID spec allows).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { KeyError } from './errors.js';

/** Key algorithms Meshwork generates and accepts. */
export type KeyAlgorithm = 'ECDSA_P256' | 'ECDSA_P384' | 'RSA_2048' | 'RSA_3072' | 'RSA_4096';

/** A key pair as node:crypto key objects (the private key never leaves memory unless a caller exports it). */
export interface KeyPair {
  readonly algorithm: KeyAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** generateKeyPair returns a fresh key pair; ECDSA P-256 unless another algorithm is asked for. */
export function generateKeyPair(algorithm: KeyAlgorithm = 'ECDSA_P256'): KeyPair {
  const pair =
    algorithm === 'ECDSA_P256' || algorithm === 'ECDSA_P384'
      ? generateKeyPairSync('ec', { namedCurve: algorithm === 'ECDSA_P256' ? 'prime256v1' : 'secp384r1' })
      : generateKeyPairSync('rsa', { modulusLength: Number(algorithm.slice(4)), publicExponent: 0x10001 });
  return { algorithm, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** keyAlgorithmOf returns the algorithm of a public or private key, or throws KeyError for one we do not accept. */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (d.namedCurve === 'prime256v1') return 'ECDSA_P256';
    if (d.namedCurve === 'secp384r1') return 'ECDSA_P384';
    throw new KeyError(`unsupported EC curve ${d.namedCurve ?? '(unknown)'}: use P-256 or P-384`);
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `RSA_${bits}` as KeyAlgorithm;
    throw new KeyError(`unsupported RSA modulus of ${bits} bits: use 2048, 3072 or 4096`);
  }
  throw new KeyError(`unsupported key type ${key.asymmetricKeyType ?? '(unknown)'}: use ECDSA or RSA`);
}

/** isRsa says whether a key algorithm is RSA (RSA leaf certificates also get keyEncipherment). */
export function isRsa(algorithm: KeyAlgorithm): boolean {
  return algorithm.startsWith('RSA');
}

/** privateKeyFromPem returns the key object of a PEM private key (PKCS#8, SEC1 or PKCS#1), or throws KeyError. */
export function privateKeyFromPem(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new KeyError(`cannot read private key: ${(e as Error).message}`, { cause: e });
  }
}

/** privateKeyToPem returns the PKCS#8 PEM of a private key (for the CA key store only). */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

// KeyObject.export costs more than an ECDSA signature, and a CA encodes the same keys again and again.
const spkiCache = new WeakMap<KeyObject, Buffer>();

/** spkiDer returns the DER SubjectPublicKeyInfo of a public (or private) key. */
export function spkiDer(key: KeyObject): Buffer {
  let der = spkiCache.get(key);
  if (!der) {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    der = pub.export({ type: 'spki', format: 'der' });
    spkiCache.set(key, der);
  }
  return der;
}

/** rememberSpki records the DER a public key was decoded from, so encoding it again costs nothing. */
export function rememberSpki(key: KeyObject, der: Buffer): void {
  spkiCache.set(key, der);
}
