import { z } from 'zod';
import { PUBLIC_KEY_BYTES, sign, verify } from './signing';

/**
 * Device certificates: the enrollment service's statement "client `sub` holds the signing key
 * `key` until `exp`", as `mc1.<payload>.<signature>` (base64url JSON and a P-256 signature over
 * the ASCII `mc1.<payload>`, the JWS shape without JOSE's algorithm negotiation). The aggregator
 * and every peer check it against the enrollment service's public key, which the aggregator does
 * not hold the private half of: it can relay identities, not mint them.
 */
export const CERTIFICATE_PREFIX = 'mc1';
/** A certificate is ~330 characters; the bound keeps a hostile one from costing a parse. */
export const MAX_CERTIFICATE_LENGTH = 1024;

export interface CertificateClaims {
  /** The client id every protocol message is attributed to. */
  readonly clientId: string;
  /** The device's ECDSA P-256 public key, uncompressed SEC1. */
  readonly publicKey: Uint8Array;
  /** Names the enrollment service key that signed it (for rotation). */
  readonly issuer: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
}

export type CertificateFailure = 'malformed' | 'bad-signature' | 'wrong-issuer' | 'expired' | 'not-yet-valid';

export class CertificateError extends Error {
  constructor(
    readonly reason: CertificateFailure,
    message: string,
  ) {
    super(message);
    this.name = 'CertificateError';
  }
}

const payloadSchema = z
  .object({
    sub: z.string().min(1).max(128),
    key: z.string().max(128),
    iss: z.string().min(1).max(128),
    iat: z.number().int().nonnegative(),
    exp: z.number().int().nonnegative(),
  })
  .strict();

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64UrlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new CertificateError('malformed', 'not base64url');
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}

const ascii = (text: string) => new TextEncoder().encode(text);

export async function issueCertificate(issuerPrivateKey: CryptoKey, claims: CertificateClaims): Promise<string> {
  if (claims.publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('a device key is a 65-byte uncompressed P-256 point');
  if (!(claims.expiresAtMs > claims.issuedAtMs)) throw new RangeError('a certificate must expire after it is issued');
  const payload = {
    sub: claims.clientId,
    key: base64UrlEncode(claims.publicKey),
    iss: claims.issuer,
    iat: claims.issuedAtMs,
    exp: claims.expiresAtMs,
  };
  const signed = `${CERTIFICATE_PREFIX}.${base64UrlEncode(ascii(JSON.stringify(payload)))}`;
  return `${signed}.${base64UrlEncode(await sign(issuerPrivateKey, ascii(signed)))}`;
}

/** The claims of a certificate the issuer signed and that is valid at `nowMs`; throws CertificateError otherwise. */
export async function verifyCertificate(
  certificate: string,
  issuer: { readonly name: string; readonly publicKey: Uint8Array },
  nowMs: number,
): Promise<CertificateClaims> {
  if (certificate.length > MAX_CERTIFICATE_LENGTH) throw new CertificateError('malformed', 'certificate too long');
  const parts = certificate.split('.');
  if (parts.length !== 3 || parts[0] !== CERTIFICATE_PREFIX) throw new CertificateError('malformed', `not an ${CERTIFICATE_PREFIX} certificate`);
  const [prefix, encodedPayload, encodedSignature] = parts as [string, string, string];
  let payload: z.infer<typeof payloadSchema>;
  try {
    payload = payloadSchema.parse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64UrlDecode(encodedPayload))));
  } catch {
    throw new CertificateError('malformed', 'certificate payload is not valid');
  }
  if (payload.iss !== issuer.name) throw new CertificateError('wrong-issuer', `issued by "${payload.iss}", expected "${issuer.name}"`);
  const signed = ascii(`${prefix}.${encodedPayload}`);
  if (!(await verify(issuer.publicKey, signed, base64UrlDecode(encodedSignature)))) {
    throw new CertificateError('bad-signature', 'the enrollment service did not sign this certificate');
  }
  const publicKey = base64UrlDecode(payload.key);
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new CertificateError('malformed', 'device key is not a P-256 point');
  if (nowMs < payload.iat) throw new CertificateError('not-yet-valid', 'certificate is not valid yet');
  if (nowMs >= payload.exp) throw new CertificateError('expired', 'certificate has expired');
  return { clientId: payload.sub, publicKey, issuer: payload.iss, issuedAtMs: payload.iat, expiresAtMs: payload.exp };
}
