import { ENROLLMENT_PATHS, enrollmentChallengeSchema, enrollmentResponseSchema, type EnrollmentIssuerText } from '../protocol/http';
import { base64UrlDecode, base64UrlEncode, verifyCertificate } from './certificate';
import { solveProofOfWork } from './pow';
import { signEnrollmentProof } from './proof';
import { generateSigningKeyPair } from './signing';

/**
 * The device's half of enrollment, the same in a browser and in Node: generate a non-extractable
 * P-256 key, ask the enrollment service for a challenge, sign it together with the public key
 * (proof of possession), and check the certificate that comes back — against the issuer the
 * device already trusts when it has one (`pinnedIssuer`: configured, or remembered from its first
 * enrollment), else against the issuer the answer names (trust on first use).
 */
export interface EnrollmentIssuer {
  readonly name: string;
  /** The service's ECDSA P-256 public key, uncompressed SEC1 (65 bytes). */
  readonly publicKey: Uint8Array;
}

export interface DeviceIdentity {
  readonly clientId: string;
  readonly certificate: string;
  /** Non-extractable; signs handshake proofs and secure-aggregation messages. */
  readonly privateKey: CryptoKey;
  readonly publicKey: Uint8Array;
  readonly issuer: EnrollmentIssuer;
  readonly expiresAtMs: number;
}

export class EnrollmentFailure extends Error {
  constructor(
    readonly code: 'UNREACHABLE' | 'REFUSED' | 'BAD_ANSWER' | 'ISSUER_CHANGED',
    message: string,
    /** The HTTP status when the service answered with an error. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'EnrollmentFailure';
  }
}

export const issuerToText = (issuer: EnrollmentIssuer): EnrollmentIssuerText => ({ name: issuer.name, publicKey: base64UrlEncode(issuer.publicKey) });
export const issuerFromText = (issuer: EnrollmentIssuerText): EnrollmentIssuer => ({ name: issuer.name, publicKey: base64UrlDecode(issuer.publicKey) });

export function sameIssuer(a: EnrollmentIssuer, b: EnrollmentIssuer): boolean {
  return a.name === b.name && a.publicKey.length === b.publicKey.length && a.publicKey.every((byte, i) => byte === b.publicKey[i]);
}

export interface EnrollOptions {
  /** Where the enrollment service's paths (ENROLLMENT_PATHS) are served, without a trailing slash. */
  baseUrl: string;
  /** The issuer this device trusts already; an answer signed by any other is refused. */
  pinnedIssuer?: EnrollmentIssuer;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default Date.now */
  now?: () => number;
  /**
   * Told when the service asks for a proof of work (identity/pow.ts), before it is solved, and how
   * many hashes it took after: a page can say what it is doing meanwhile.
   */
  onProofOfWork?: (progress: { difficultyBits: number; attempts?: number }) => void;
  /** Hash for about this long between yields to the event loop while solving. @default 8 */
  proofOfWorkSliceMs?: number;
}

async function postJson(fetchImpl: typeof fetch, url: string, body: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchImpl(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (error) {
    throw new EnrollmentFailure('UNREACHABLE', `POST ${url}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  if (response.status !== 201) throw new EnrollmentFailure('REFUSED', `POST ${url}: HTTP ${response.status} ${text.slice(0, 300)}`, response.status);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EnrollmentFailure('BAD_ANSWER', `POST ${url}: the answer is not JSON`);
  }
}

export async function enrollDevice(options: EnrollOptions): Promise<DeviceIdentity> {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const now = options.now ?? Date.now;
  const keys = await generateSigningKeyPair();
  const challenge = enrollmentChallengeSchema.safeParse(await postJson(fetchImpl, `${options.baseUrl}${ENROLLMENT_PATHS.challenge}`, {}));
  if (!challenge.success) throw new EnrollmentFailure('BAD_ANSWER', `enrollment challenge: ${challenge.error.issues[0]?.message ?? 'invalid'}`);
  const signature = await signEnrollmentProof(keys.privateKey, challenge.data.challenge, keys.publicKey);
  const publicKey = base64UrlEncode(keys.publicKey);
  // The service may ask for work first (a Sybil speed bump): solved in slices, so a page stays responsive.
  const { difficultyBits } = challenge.data;
  let work: string | undefined;
  if (difficultyBits !== undefined) {
    options.onProofOfWork?.({ difficultyBits });
    const solved = await solveProofOfWork({
      challenge: challenge.data.challenge,
      publicKey,
      difficultyBits,
      ...(options.proofOfWorkSliceMs !== undefined ? { sliceMs: options.proofOfWorkSliceMs } : {}),
    });
    work = solved.work;
    options.onProofOfWork?.({ difficultyBits, attempts: solved.attempts });
  }
  const answer = enrollmentResponseSchema.safeParse(
    await postJson(fetchImpl, `${options.baseUrl}${ENROLLMENT_PATHS.enroll}`, {
      challenge: challenge.data.challenge,
      publicKey,
      signature,
      ...(work !== undefined ? { work } : {}),
    }),
  );
  if (!answer.success) throw new EnrollmentFailure('BAD_ANSWER', `enrollment answer: ${answer.error.issues[0]?.message ?? 'invalid'}`);
  const named = issuerFromText(answer.data.issuer);
  if (options.pinnedIssuer && !sameIssuer(options.pinnedIssuer, named)) {
    throw new EnrollmentFailure(
      'ISSUER_CHANGED',
      `the enrollment service now signs as "${named.name}" with another key than the pinned "${options.pinnedIssuer.name}": refusing its certificate`,
    );
  }
  const issuer = options.pinnedIssuer ?? named;
  let claims;
  try {
    claims = await verifyCertificate(answer.data.certificate, issuer, now());
  } catch (error) {
    throw new EnrollmentFailure('BAD_ANSWER', `enrollment certificate: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (claims.clientId !== answer.data.clientId || !claims.publicKey.every((byte, i) => byte === keys.publicKey[i])) {
    throw new EnrollmentFailure('BAD_ANSWER', 'enrollment certificate: it certifies another client id or key than the one enrolled');
  }
  return {
    clientId: claims.clientId,
    certificate: answer.data.certificate,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    issuer,
    expiresAtMs: claims.expiresAtMs,
  };
}
