import { sha256 } from '@noble/hashes/sha2.js';
import type { RoundPlan } from '../protocol/schemas';

/**
 * SHA-256 of a round plan as the whole cohort received it: canonical JSON (keys sorted, binary as
 * hex) of the plan with `participantId`, the one per-member field, set to 0. It covers the model
 * version and weights hash, the SecAgg parameters (graph seed included), training, privacy,
 * encoding, metrics and deadlines, so a server that sends cohort members different models or
 * plans (Pasquini et al. CCS 2022) makes their signatures fail to verify for each other.
 */
export function roundPlanHash(plan: RoundPlan): Uint8Array {
  return sha256(new TextEncoder().encode(canonicalJson({ ...plan, participantId: 0 })));
}

function canonicalJson(value: unknown): string {
  if (value instanceof Uint8Array) return JSON.stringify(`hex:${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')}`);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
