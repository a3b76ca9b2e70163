export { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, generateSigningKeyPair, sign, verify, type SigningKeyPair } from './signing';
export {
  CERTIFICATE_PREFIX,
  CertificateError,
  MAX_CERTIFICATE_LENGTH,
  base64UrlDecode,
  base64UrlEncode,
  issueCertificate,
  verifyCertificate,
  type CertificateClaims,
  type CertificateFailure,
} from './certificate';
