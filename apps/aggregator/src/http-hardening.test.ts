import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundsPageSchema } from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { CONTENT_SECURITY_POLICY, DASHBOARD_CONTENT_SECURITY_POLICY, isLoopback, requestPathProblem } from './http';
import { testConfig, testLogger } from './test-helpers';

/**
 * The HTTP edge against hostile paths, with real aggregators on 127.0.0.1. Requests go out over
 * raw sockets: fetch and URL resolve `..` and %2e%2e before sending, which would hide exactly the
 * forms under test.
 */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function raw(port: number, method: string, target: string, headers: Record<string, string> = {}, localAddress?: string): Promise<RawResponse> {
  return new Promise((resolveResponse, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`${method} ${target}: no complete response head (${all.length} bytes)`));
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const parsedHeaders = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolveResponse({ status: Number(statusLine?.split(' ')[1]), headers: parsedHeaders, body: all.subarray(end + 4) });
    });
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    // write, not end: Node's server drops a request whose client half-closes before the answer.
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`);
  });
}

const get = (port: number, target: string, headers: Record<string, string> = {}) => raw(port, 'GET', target, headers);

function expectJsonError(response: RawResponse, statuses: number[], code?: string): void {
  expect(statuses).toContain(response.status);
  expect(response.headers['content-type']).toBe('application/json');
  const body = JSON.parse(response.body.toString('utf8')) as { code: string; message: string };
  expect(body).toEqual({ code: code ?? expect.any(String), message: expect.any(String) });
}

const INDEX_HTML = '<!doctype html><title>app shell</title><div id="root"></div>';
const DASHBOARD_HTML = '<!doctype html><title>round dashboard</title><div id="root"></div>';
const DOTFILE_SECRET = 'DOTFILE_SECRET=never-served';
const PRIVATE_SECRET = 'private build output, never served';

let root: string;
let www: string;
let wwwData: string;
let main: RunningAggregator;
let secrets: { name: string; bytes: Buffer }[];

beforeAll(async () => {
  await useNodeBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'murmur-http-'));
  www = join(root, 'www');
  wwwData = join(root, 'www-data');
  mkdirSync(join(www, 'assets'), { recursive: true });
  writeFileSync(join(www, 'index.html'), INDEX_HTML);
  writeFileSync(join(www, 'dashboard.html'), DASHBOARD_HTML);
  writeFileSync(join(www, 'assets', 'app.js'), 'console.log("app");');
  writeFileSync(join(www, 'assets', 'kernel.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  writeFileSync(join(www, 'manifest.webmanifest'), '{"name":"Murmur"}');
  writeFileSync(join(www, '.env'), DOTFILE_SECRET);
  writeFileSync(join(www, 'assets', '.hidden'), DOTFILE_SECRET);
  // No adminToken: the aggregator generates <dataDir>/admin-token, one of the files to protect.
  main = await startWithEnrollment(testConfig(wwwData, { adminToken: undefined }), { logger: testLogger(), staticDir: www });
  secrets = [
    { name: 'admin-token', bytes: Buffer.from(main.adminToken) },
    { name: 'enrollment/issuer-key.json', bytes: readFileSync(join(wwwData, 'enrollment', 'issuer-key.json')) },
    { name: 'head.json', bytes: readFileSync(join(wwwData, 'head.json')).subarray(0, 64) },
    { name: '.env', bytes: Buffer.from(DOTFILE_SECRET) },
  ];
});
afterAll(async () => {
  await main?.close();
  rmSync(root, { recursive: true, force: true });
});

const TRAVERSALS = [
  '/..%2fwww-data%2fadmin-token',
  '/..%2Fwww-data%2Fenrollment%2Fissuer-key.json',
  '/..%2fwww-data%2fhead.json',
  '/%2e%2e/www-data/head.json',
  '/%2E%2E%2Fwww-data%2Fadmin-token',
  '/.%2e/www-data/admin-token',
  '/..%5cwww-data%5chead.json',
  '/..%5Cwww-data%5Cadmin-token',
  '/..\\www-data\\admin-token',
  '/../www-data/admin-token',
  '/assets/../../www-data/enrollment/issuer-key.json',
  '/..%252fwww-data%252fadmin-token',
  '/%252e%252e/www-data/admin-token',
  '/.env',
  '/%2eenv',
  '/assets/.hidden',
  '/..%00/www-data/admin-token',
  'http://127.0.0.1/..%2fwww-data%2fadmin-token',
];

describe('static files: nothing outside the static root, no dotfiles', () => {
  it.each(TRAVERSALS)('GET %s returns no secret', async (target) => {
    const response = await get(main.port, target);
    for (const secret of secrets) expect(response.body.includes(secret.bytes), `${target} leaked ${secret.name}`).toBe(false);
  });

  it.each(TRAVERSALS)('GET %s is refused with a JSON error', async (target) => {
    expectJsonError(await get(main.port, target), [400, 404]);
  });

  it('refuses a sibling directory that shares the root as a prefix (dist / dist-private)', async () => {
    const distData = join(root, 'dist-data');
    const dist = join(root, 'dist');
    mkdirSync(dist);
    mkdirSync(join(root, 'dist-private'));
    writeFileSync(join(dist, 'index.html'), INDEX_HTML);
    writeFileSync(join(root, 'dist-private', 'secret.txt'), PRIVATE_SECRET);
    const sibling = await startWithEnrollment(testConfig(distData), { logger: testLogger(), staticDir: dist });
    try {
      for (const target of [
        '/..%2fdist-private%2fsecret.txt',
        '/..%2Fdist-private/secret.txt',
        '/../dist-private/secret.txt',
        '/%2e%2e/dist-private/secret.txt',
      ]) {
        const response = await get(sibling.port, target);
        expect(response.body.toString('utf8'), target).not.toContain(PRIVATE_SECRET);
        expectJsonError(response, [400, 404]);
      }
    } finally {
      await sibling.close();
    }
  });

  it('refuses to start when the data directory is inside the static directory, or the other way round', async () => {
    const inside = join(www, 'data');
    await expect(startWithEnrollment(testConfig(inside), { logger: testLogger(), staticDir: www })).rejects.toThrow(/inside the static directory/);
    // Refused before anything was written there.
    expect(existsSync(inside)).toBe(false);
    await expect(startWithEnrollment(testConfig(www), { logger: testLogger(), staticDir: www })).rejects.toThrow(/inside the static directory/);
    // A child whose name starts with two dots is still a child.
    await expect(startWithEnrollment(testConfig(join(www, '..data')), { logger: testLogger(), staticDir: www })).rejects.toThrow(/inside the static directory/);
    await expect(startWithEnrollment(testConfig(root), { logger: testLogger(), staticDir: www })).rejects.toThrow(/inside the data directory/);
    // Through a symbolic link too.
    const link = join(root, 'www-link');
    symlinkSync(www, link);
    await expect(startWithEnrollment(testConfig(join(link, 'data')), { logger: testLogger(), staticDir: www })).rejects.toThrow(/inside the static directory/);
    await expect(startWithEnrollment(testConfig(join(root, 'other-data')), { logger: testLogger(), staticDir: join(root, 'missing') })).rejects.toThrow(
      /expected an existing directory/,
    );
  });

  it('keeps the app shell for client-side routes and the right content types for files', async () => {
    for (const target of ['/', '/notes/42', '/index.html']) {
      const response = await get(main.port, target);
      expect(response.status, target).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html; ?charset=utf-8$/);
      expect(response.body.toString('utf8')).toBe(INDEX_HTML);
    }
    expect((await get(main.port, '/assets/app.js')).headers['content-type']).toMatch(/^text\/javascript\b/);
    expect((await get(main.port, '/assets/kernel.wasm')).headers['content-type']).toBe('application/wasm');
    expect((await get(main.port, '/manifest.webmanifest')).headers['content-type']).toBe('application/manifest+json');
    // A missing file with an extension is a 404, not the app shell a script would choke on.
    expectJsonError(await get(main.port, '/assets/missing.js'), [404], 'NOT_FOUND');
    expectJsonError(await get(main.port, '/api/nothing'), [404], 'NOT_FOUND');
  });

  it('serves the operator dashboard at /dashboard and /dashboard/, never the participant shell below it', async () => {
    for (const target of ['/dashboard', '/dashboard/', '/dashboard?range=1h', '/dashboard.html']) {
      const response = await get(main.port, target);
      expect(response.status, target).toBe(200);
      expect(response.headers['content-type'], target).toMatch(/^text\/html; ?charset=utf-8$/);
      expect(response.body.toString('utf8'), target).toBe(DASHBOARD_HTML);
    }
    // The single-page fallback would hand the participant app (and its runtime) an address the operator took for the dashboard.
    for (const target of ['/dashboard/rounds', '/dashboard//', '/dashboard/index.html']) expectJsonError(await get(main.port, target), [404], 'NOT_FOUND');
    // Traversal through the dashboard's path is refused before any file is looked up.
    for (const target of ['/dashboard/..%2fwww-data%2fadmin-token', '/dashboard/../www-data/admin-token', '/dashboard/%2e%2e/index.html']) {
      const response = await get(main.port, target);
      expectJsonError(response, [400], 'MALFORMED');
      for (const secret of secrets) expect(response.body.includes(secret.bytes), `${target} leaked ${secret.name}`).toBe(false);
    }
  });

  it('ignores Range and revalidates by ETag, with no Cache-Control of its own', async () => {
    const whole = await get(main.port, '/assets/app.js');
    expect(whole.headers['cache-control']).toBeUndefined();
    expect(whole.headers['accept-ranges']).toBeUndefined();
    for (const range of ['bytes=0-3', 'bytes=-5', 'bytes=9-1']) {
      const ranged = await get(main.port, '/assets/app.js', { range });
      expect(ranged.status, range).toBe(200);
      expect(ranged.body.equals(whole.body), range).toBe(true);
    }
    const etag = whole.headers.etag as string;
    expect(etag).toMatch(/^W\/"/);
    const again = await get(main.port, '/assets/app.js', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it('survives a file removed after start (a client rebuilt in place)', async () => {
    const gone = join(www, 'assets', 'gone.js');
    writeFileSync(gone, 'x');
    const rescanned = await startWithEnrollment(testConfig(join(root, 'rescan-data')), { logger: testLogger(), staticDir: www });
    try {
      rmSync(gone);
      await get(rescanned.port, '/assets/gone.js').catch(() => undefined);
      expect((await get(rescanned.port, '/healthz')).status).toBe(200);
    } finally {
      await rescanned.close();
    }
  });

  it('checks raw request paths before anything decodes or resolves them', () => {
    expect(requestPathProblem('/assets/app.js?v=1')).toBeNull();
    expect(requestPathProblem('/api/rounds?limit=2&path=..%2f')).toBeNull();
    expect(requestPathProblem('/a%20b')).toBeNull();
    for (const bad of ['/..%2fx', '/..%2Fx', '/a%5cb', '/%2e%2e/x', '/a/./b', '/a/..', '/%E0%A4%A', '/a%252fb', '/a%00', '*', 'http://h/x']) {
      expect(requestPathProblem(bad), bad).toEqual(expect.any(String));
    }
  });
});

describe('security headers', () => {
  it('sends the app CSP with every static file and a no-content CSP with API answers', async () => {
    expect(CONTENT_SECURITY_POLICY).toContain("'wasm-unsafe-eval'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/'unsafe-eval'|'unsafe-inline'/);
    for (const target of ['/', '/notes/42', '/assets/app.js', '/assets/kernel.wasm']) {
      const { headers } = await get(main.port, target);
      expect(headers['content-security-policy'], target).toBe(CONTENT_SECURITY_POLICY);
      expect(headers).toMatchObject({ 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' });
    }
  });

  it('sends the dashboard page a policy under which no WebAssembly and no worker can start', async () => {
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).toContain("worker-src 'none'");
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).toContain("script-src 'self';");
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).not.toMatch(/wasm-unsafe-eval|'unsafe-eval'|'unsafe-inline'/);
    // Otherwise the app's policy, directive for directive.
    const others = (policy: string) => policy.split('; ').filter((directive) => !/^(script|worker)-src /.test(directive));
    expect(others(DASHBOARD_CONTENT_SECURITY_POLICY)).toEqual(others(CONTENT_SECURITY_POLICY));
    for (const target of ['/dashboard', '/dashboard/', '/dashboard?range=1h', '/dashboard.html']) {
      const { headers } = await get(main.port, target);
      expect(headers['content-security-policy'], target).toBe(DASHBOARD_CONTENT_SECURITY_POLICY);
      expect(headers).toMatchObject({ 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' });
    }
    for (const target of ['/api/status', '/api/model/latest', '/healthz', '/assets/missing.js', '/..%2fx']) {
      const { headers } = await get(main.port, target);
      expect(headers['content-security-policy'], target).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(headers).toMatchObject({ 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' });
    }
  });
});

describe('HEAD', () => {
  it("carries the GET's content-length and no body, on every route", async () => {
    for (const target of [
      '/api/model/latest',
      '/api/model/0',
      '/healthz',
      '/api/privacy',
      '/api/rounds',
      '/',
      '/dashboard',
      '/dashboard/',
      '/assets/kernel.wasm',
      '/api/nothing',
    ]) {
      const whole = await get(main.port, target);
      const head = await raw(main.port, 'HEAD', target);
      expect(head.status, target).toBe(whole.status);
      expect(head.headers['content-length'], target).toBe(String(whole.body.length));
      expect(head.body.length, target).toBe(0);
    }
    expect(Number((await raw(main.port, 'HEAD', '/api/model/latest')).headers['content-length'])).toBeGreaterThan(1000);
  });
});

describe('GET /api/rounds query', () => {
  it('accepts integers in range, answers in the shape fl-core parses', async () => {
    const page = roundsPageSchema.parse(JSON.parse((await get(main.port, '/api/rounds')).body.toString('utf8')));
    expect(page).toMatchObject({ limit: 20, offset: 0 });
    expect(roundsPageSchema.parse(JSON.parse((await get(main.port, '/api/rounds?limit=100&offset=0')).body.toString('utf8')))).toMatchObject({
      limit: 100,
      offset: 0,
    });
    expect(roundsPageSchema.parse(JSON.parse((await get(main.port, '/api/rounds?limit=1&offset=7')).body.toString('utf8')))).toMatchObject({
      limit: 1,
      offset: 7,
    });
  });

  it.each([
    ['limit=1.5', 'MALFORMED'],
    ['limit=abc', 'MALFORMED'],
    ['limit=', 'MALFORMED'],
    ['limit=1e1', 'MALFORMED'],
    ['limit=0x10', 'MALFORMED'],
    ['offset=0.5', 'MALFORMED'],
    ['offset=NaN', 'MALFORMED'],
    ['limit=0', 'OUT_OF_BOUNDS'],
    ['limit=101', 'OUT_OF_BOUNDS'],
    ['limit=-1', 'OUT_OF_BOUNDS'],
    ['offset=-1', 'OUT_OF_BOUNDS'],
  ])('refuses %s with %s', async (query, code) => {
    expectJsonError(await get(main.port, `/api/rounds?${query}`), [400], code);
  });
});

/** A non-loopback address of this machine, to connect from (to 127.0.0.1) as a remote peer would. */
const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

describe('/metrics', () => {
  it('without a metrics token answers loopback peers only', async () => {
    const local = await get(main.port, '/metrics');
    expect(local.status).toBe(200);
    expect(local.body.toString('utf8')).toMatch(/murmur_model_version/);
  });

  it.skipIf(externalAddress === undefined)(
    `refuses a non-loopback peer (${externalAddress ?? 'none on this machine'}) with 403 when no token is configured`,
    async () => {
      const remote = await raw(main.port, 'GET', '/metrics', {}, externalAddress);
      expectJsonError(remote, [403], 'FORBIDDEN');
      expect(remote.body.toString('utf8')).not.toMatch(/murmur_|nodejs_version/);
      // The rest of the API stays open to it.
      expect((await raw(main.port, 'GET', '/healthz', {}, externalAddress)).status).toBe(200);
    },
  );

  it('with a metrics token wants it from everyone, loopback included', async () => {
    const metricsToken = 'metrics-token-0123456789abcdef';
    const guarded = await startWithEnrollment(testConfig(join(root, 'metrics-data'), { metricsToken }), { logger: testLogger() });
    try {
      expectJsonError(await get(guarded.port, '/metrics'), [401], 'UNAUTHORIZED');
      expectJsonError(await get(guarded.port, '/metrics', { authorization: `Bearer ${metricsToken.slice(0, -1)}x` }), [401], 'UNAUTHORIZED');
      // The admin token is not the metrics token.
      expectJsonError(await get(guarded.port, '/metrics', { authorization: `Bearer ${guarded.adminToken}` }), [401], 'UNAUTHORIZED');
      const allowed = await get(guarded.port, '/metrics', { authorization: `Bearer ${metricsToken}` });
      expect(allowed.status).toBe(200);
      expect(allowed.body.toString('utf8')).toMatch(/murmur_model_version/);
      if (externalAddress) expect((await raw(guarded.port, 'GET', '/metrics', { authorization: `Bearer ${metricsToken}` }, externalAddress)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('tells loopback addresses from others', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.1']) expect(isLoopback(address), address).toBe(true);
    for (const address of [undefined, '', '10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', 'fe80::1', '::', '0.0.0.0', '128.0.0.1', '::ffff:127.0.0.1.evil'])
      expect(isLoopback(address), String(address)).toBe(false);
  });
});

describe('routing: status codes in the order the API promises', () => {
  it('answers a method other than GET and HEAD with 405 outside /api/admin/ and /api/enrollment/', async () => {
    for (const [method, target] of [
      ['POST', '/api/status'],
      ['PUT', '/api/rounds'],
      ['DELETE', '/notes/42'],
      ['OPTIONS', '/'],
      ['POST', '/api/nothing'],
    ] as const) {
      expectJsonError(await raw(main.port, method, target, { 'content-length': '0' }), [405], 'METHOD_NOT_ALLOWED');
    }
  });

  it('answers a path that is no route with 404, not the app shell', async () => {
    for (const target of ['/api/rounds/abc', '/api/rounds/1234567890', '/api/model/abc', '/api/model/1/2', `/api/rounds/${'1'.repeat(200)}`]) {
      expectJsonError(await get(main.port, target), [404], 'NOT_FOUND');
    }
    const missing = await get(main.port, '/api/rounds/999999');
    expectJsonError(missing, [404], 'NOT_FOUND');
    expect(JSON.parse(missing.body.toString('utf8')).message).toBe('no record of round 999999');
  });

  it('checks the admin token first, then the method, then the path', async () => {
    const bearer = { authorization: `Bearer ${main.adminToken}`, 'content-length': '0' };
    for (const [method, target] of [
      ['POST', '/api/admin/nothing'],
      ['GET', '/api/admin/pause'],
      ['GET', '/api/admin/plan'],
    ] as const) {
      expectJsonError(await raw(main.port, method, target, { 'content-length': '0' }), [401], 'UNAUTHORIZED');
      expectJsonError(await raw(main.port, method, target, { authorization: 'Bearer not-a-token', 'content-length': '0' }), [401], 'UNAUTHORIZED');
    }
    // Before any body is read: without a token, neither a broken nor an oversized one is looked at.
    for (const body of ['{"epsilonBudget":', JSON.stringify({ pad: 'x'.repeat(100_000) })]) {
      const refused = await fetch(`${main.url}/api/admin/budget`, { method: 'POST', body });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    expectJsonError(await raw(main.port, 'GET', '/api/admin/pause', bearer), [405], 'METHOD_NOT_ALLOWED');
    // HEAD is no method of the plan endpoint (its answer has no body to check).
    expect((await raw(main.port, 'HEAD', '/api/admin/plan', bearer)).status).toBe(405);
    expectJsonError(await raw(main.port, 'DELETE', '/api/admin/nothing', bearer), [405], 'METHOD_NOT_ALLOWED');
    expectJsonError(await raw(main.port, 'POST', '/api/admin/nothing', bearer), [404], 'NOT_FOUND');
    expect((await raw(main.port, 'GET', '/api/admin/plan', bearer)).status).toBe(200);
  });

  it('sends the hosted enrollment service its requests, with the security headers', async () => {
    const issuer = await get(main.port, '/api/enrollment/issuer');
    expect(issuer.status).toBe(200);
    expect(issuer.headers).toMatchObject({ 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' });
    expect(issuer.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    // The service reads its own bodies: one over the aggregator's limit but for the service to judge.
    const enroll = await fetch(`${main.url}/api/enrollment/enroll`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(enroll.status).toBe(413);
  });
});

describe('admin bodies', () => {
  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${main.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${main.adminToken}`, ...headers }, body });
    expect(response.headers.get('content-type'), path).toBe('application/json');
    expect(response.headers.get('x-frame-options'), path).toBe('DENY');
    return { status: response.status, body: (await response.json()) as { code: string; message: string } };
  };

  it('are parsed as JSON whatever their content type, and checked against the route schema', async () => {
    // fetch sends a string as text/plain; the schema still decides.
    expect(await post('/api/admin/budget', JSON.stringify({ epsilonBudget: 'lots' }))).toEqual({
      status: 400,
      body: { code: 'MALFORMED', message: expect.stringMatching(/^POST \/api\/admin\/budget body: expected \{ epsilonBudget: .*epsilonBudget/) },
    });
    expect(await post('/api/admin/budget', JSON.stringify({ epsilonBudget: -1 }), { 'content-type': 'application/json' })).toEqual({
      status: 400,
      body: { code: 'OUT_OF_BOUNDS', message: expect.stringContaining('epsilonBudget') },
    });
    expect(await post('/api/admin/release', JSON.stringify({ version: 1, extra: true }))).toEqual({
      status: 400,
      body: { code: 'MALFORMED', message: expect.stringMatching(/^POST \/api\/admin\/release body: expected \{ version: a model version/) },
    });
    expect(await post('/api/admin/revoke', '')).toEqual({ status: 400, body: { code: 'MALFORMED', message: expect.stringContaining('clientId') } });
  });

  it('are refused when not JSON or over the size bound', async () => {
    expect(await post('/api/admin/budget', '{"epsilonBudget":')).toEqual({ status: 400, body: { code: 'MALFORMED', message: 'request body is not JSON' } });
    expect(await post('/api/admin/budget', JSON.stringify({ epsilonBudget: 1, pad: 'x'.repeat(70_000) }))).toEqual({
      status: 400,
      body: { code: 'TOO_LARGE', message: 'request body over 65536 bytes' },
    });
  });
});
