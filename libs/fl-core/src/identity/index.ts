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
export {
  ENROLLMENT_PROOF_PURPOSE,
  HANDSHAKE_PROOF_PURPOSE,
  NONCE_BYTES,
  NONCE_CHARS,
  PUBLIC_KEY_CHARS,
  SIGNATURE_CHARS,
  checkEnrollmentProof,
  checkHandshakeProof,
  decodeExact,
  enrollmentProofMessage,
  freshNonce,
  handshakeProofMessage,
  signEnrollmentProof,
  signHandshakeProof,
  type HandshakeProof,
} from './proof';
export {
  EnrollmentFailure,
  enrollDevice,
  issuerFromText,
  issuerToText,
  sameIssuer,
  type DeviceIdentity,
  type EnrollOptions,
  type EnrollmentIssuer,
} from './enroll';
export {
  MAX_POW_BITS,
  MAX_POW_WORK_CHARS,
  POW_PURPOSE,
  checkProofOfWork,
  leadingZeroBits,
  proofOfWorkMessage,
  solveProofOfWork,
  type SolveProofOfWorkOptions,
} from './pow';
