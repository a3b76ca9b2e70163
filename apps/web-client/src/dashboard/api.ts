import { z } from 'zod';
import { errorSchema, MAX_ROUNDS_LIMIT, roundReportSchema, type ReleaseActionRequest, type RoundReport, type RoundsQuery } from '@murmur/fl-core/protocol';
import {
  pauseResponseSchema,
  planResponseSchema,
  privacySummarySchema,
  releaseActionResponseSchema,
  releaseViewSchema,
  roundsPageSchema,
  statusSchema,
  type DashboardStatus,
  type PlanResponse,
  type PrivacySummary,
  type ReleaseActionResponse,
  type ReleaseView,
  type RoundsPage,
} from './schemas';

/**
 * The aggregator's REST API as the dashboard uses it. Every answer is parsed with its zod schema
 * before anything else sees it; failures are values with a code, naming the request, what was
 * expected and what came back.
 */
export type ApiErrorCode = 'NETWORK' | 'HTTP' | 'UNAUTHORIZED' | 'INVALID_RESPONSE' | 'TOO_LARGE';
export interface ApiError {
  code: ApiErrorCode;
  message: string;
  /** HTTP status, when the server answered. */
  status?: number;
  /** The server's own error code from its `{ code, message }` body (e.g. OUT_OF_BOUNDS). */
  serverCode?: string;
}
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/** Rounds asked for per page: the aggregator's largest page (~1 KB a round), so 1,000 rounds take 10 requests. */
export const HISTORY_PAGE_SIZE = MAX_ROUNDS_LIMIT;
/**
 * Most rounds the dashboard loads (~10 MB of records). Beyond it the oldest history stays on the
 * server; the charts and table cover the newest rounds.
 */
export const MAX_HISTORY_ROUNDS = 10_000;
/** Largest JSON body accepted: a full page of rounds with room to spare. */
export const MAX_RESPONSE_BYTES = 8 * 2 ** 20;

/** An admin change of the plan: dotted plan paths ('training.epochs') to new values. */
export type PlanChanges = Record<string, number>;

/** The body of POST /api/admin/release and /rollback (fl-core's releaseActionRequestSchema); an empty note is left out. */
const releaseActionBody = (version: number, note: string | undefined): ReleaseActionRequest => ({ version, ...(note ? { note } : {}) });

export class DashboardApi {
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;

  constructor(baseUrl: string, fetchImpl: typeof fetch = (input, init) => fetch(input, init)) {
    this.#baseUrl = baseUrl.replace(/\/$/, '');
    this.#fetch = fetchImpl;
  }

  /**
   * The status and the server's clock from the HTTP Date header (whole seconds), so countdowns
   * against the server's phase times survive a skewed local clock.
   */
  async status(signal?: AbortSignal): Promise<ApiResult<{ status: DashboardStatus; serverTimeMs: number | null }>> {
    let date: string | null = null;
    const result = await this.#request('GET', '/api/status', statusSchema, { signal, onResponse: (r) => (date = r.headers.get('date')) });
    if (!result.ok) return result;
    const serverTimeMs = date === null ? Number.NaN : Date.parse(date);
    return { ok: true, value: { status: result.value, serverTimeMs: Number.isFinite(serverTimeMs) ? serverTimeMs : null } };
  }

  privacy(signal?: AbortSignal): Promise<ApiResult<PrivacySummary>> {
    return this.#request('GET', '/api/privacy', privacySummarySchema, { signal });
  }

  /** Up to HISTORY_PAGE_SIZE rounds, newest first, skipping the `offset` newest. */
  roundsPage(offset: number, signal?: AbortSignal): Promise<ApiResult<RoundsPage>> {
    const query = new URLSearchParams({ limit: String(HISTORY_PAGE_SIZE), offset: String(offset) } satisfies RoundsQuery);
    return this.#request('GET', `/api/rounds?${query}`, roundsPageSchema, { signal });
  }

  round(round: number, signal?: AbortSignal): Promise<ApiResult<RoundReport>> {
    return this.#request('GET', `/api/rounds/${round}`, roundReportSchema, { signal });
  }

  /**
   * Pages from the newest back, handing each to `onPage` as it arrives so the newest rounds show
   * at once; stops at the oldest round, at MAX_HISTORY_ROUNDS, once `caughtUp(page)` says the
   * rest is already held (a reconnect's catch-up), or on the first error.
   *
   * Offsets count back from the newest round, so a round committed while paging shifts the
   * window by one: the next page repeats a record (the data layer deduplicates by roundId) and
   * never skips one.
   */
  async history(
    onPage: (page: RoundsPage, complete: boolean) => void,
    options: { signal?: AbortSignal; caughtUp?: (page: RoundsPage) => boolean } = {},
  ): Promise<ApiResult<number>> {
    let offset = 0;
    for (;;) {
      const page = await this.roundsPage(offset, options.signal);
      if (!page.ok) return page;
      offset += page.value.rounds.length;
      const complete = page.value.rounds.length === 0 || offset >= page.value.total || offset >= MAX_HISTORY_ROUNDS;
      onPage(page.value, complete);
      if (complete || options.caughtUp?.(page.value)) return { ok: true, value: offset };
    }
  }

  adminPlan(token: string, signal?: AbortSignal): Promise<ApiResult<PlanResponse>> {
    return this.#request('GET', '/api/admin/plan', planResponseSchema, { token, signal });
  }

  setPlan(token: string, changes: PlanChanges): Promise<ApiResult<PlanResponse>> {
    return this.#request('POST', '/api/admin/plan', planResponseSchema, { token, body: nestPlanChanges(changes) });
  }

  pause(token: string): Promise<ApiResult<{ paused: boolean }>> {
    return this.#request('POST', '/api/admin/pause', pauseResponseSchema, { token });
  }

  resume(token: string): Promise<ApiResult<{ paused: boolean }>> {
    return this.#request('POST', '/api/admin/resume', pauseResponseSchema, { token });
  }

  /** Released and candidate versions, the gate's settings and recent decisions, and the audit log. */
  release(signal?: AbortSignal): Promise<ApiResult<ReleaseView>> {
    return this.#request('GET', '/api/release', releaseViewSchema, { signal });
  }

  /** Serves `version` for suggestions from now on (newer than the released one); audited with the note. */
  releaseVersion(token: string, version: number, note?: string): Promise<ApiResult<ReleaseActionResponse>> {
    return this.#request('POST', '/api/admin/release', releaseActionResponseSchema, { token, body: releaseActionBody(version, note) });
  }

  /** Suggestions and training go back to `version` (older than the released one); audited with the note. */
  rollBack(token: string, version: number, note?: string): Promise<ApiResult<ReleaseActionResponse>> {
    return this.#request('POST', '/api/admin/rollback', releaseActionResponseSchema, { token, body: releaseActionBody(version, note) });
  }

  /** Where the browser downloads a model version (immutable, cached by the server's ETag). */
  modelUrl(version: number): string {
    return `${this.#baseUrl}/api/model/${version}`;
  }

  async #request<T>(
    method: 'GET' | 'POST',
    path: string,
    schema: z.ZodType<T>,
    options: { token?: string; body?: unknown; signal?: AbortSignal | undefined; onResponse?: (response: Response) => void },
  ): Promise<ApiResult<T>> {
    const label = `${method} ${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}${path}`, {
        method,
        headers,
        cache: 'no-store',
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      return failure('NETWORK', `${label} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    options.onResponse?.(response);
    const text = await readBounded(response, label);
    if (!text.ok) return text;
    let json: unknown;
    try {
      json = text.value === '' ? undefined : JSON.parse(text.value);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const body = errorSchema.safeParse(json);
      const detail = body.success ? `${body.data.code}: ${body.data.message}` : `${response.status} ${response.statusText}`.trim();
      return {
        ok: false,
        error: {
          code: response.status === 401 || response.status === 403 ? 'UNAUTHORIZED' : 'HTTP',
          message: `${label} answered ${response.status} (${detail})`,
          status: response.status,
          ...(body.success ? { serverCode: body.data.code } : {}),
        },
      };
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const detail = z.prettifyError(parsed.error).replace(/\n/g, '; ');
      return failure('INVALID_RESPONSE', `${label}: unexpected answer: ${detail.length > 300 ? `${detail.slice(0, 300)}…` : detail}`);
    }
    return { ok: true, value: parsed.data };
  }
}

function failure(code: ApiErrorCode, message: string): { ok: false; error: ApiError } {
  return { ok: false, error: { code, message } };
}

async function readBounded(response: Response, label: string): Promise<ApiResult<string>> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES) return failure('TOO_LARGE', `${label}: ${declared} bytes, expected at most ${MAX_RESPONSE_BYTES}`);
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    return failure('NETWORK', `${label}: reading the body failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Characters, not bytes, but within a factor of 4 of the same bound, which is all a cap needs.
  if (text.length > MAX_RESPONSE_BYTES) return failure('TOO_LARGE', `${label}: ${text.length} characters, expected at most ${MAX_RESPONSE_BYTES}`);
  return { ok: true, value: text };
}

/** { 'training.epochs': 2, target: 30 } → { training: { epochs: 2 }, target: 30 }. */
export function nestPlanChanges(changes: PlanChanges): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.split('.');
    let cursor = out;
    for (const key of keys.slice(0, -1)) {
      const next = cursor[key];
      if (typeof next !== 'object' || next === null) cursor[key] = {};
      cursor = cursor[key] as Record<string, unknown>;
    }
    cursor[keys[keys.length - 1] as string] = value;
  }
  return out;
}
