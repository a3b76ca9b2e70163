import { beforeAll, describe, expect, it } from 'vitest';
import type { Document } from '../data/types';
import { splitSentences, tokenize } from '../text/tokenize';
import { createVocabulary, UNK_ID } from '../text/vocabulary';
import {
  extractBody,
  loadCorpus,
  loadPrivacyPopulation,
  loadSpamAssassin,
  loadStateOfTheUnion,
  PASSAGE_SENTENCES,
  senderAddress,
  type CorpusName,
  type SpamAssassinGroup,
} from './corpora';

describe('loadStateOfTheUnion', () => {
  const documents = loadStateOfTheUnion();

  it('returns the 233 addresses with unique year-president ids, grouped by president', () => {
    expect(documents).toHaveLength(233);
    expect(new Set(documents.map((d) => d.id)).size).toBe(233);
    expect(documents[0]).toMatchObject({ id: '1790-george-washington', group: 'George Washington' });
    // Two addresses in 1953 (and 1961): outgoing and incoming president.
    expect(
      documents
        .filter((d) => d.id.startsWith('1953-'))
        .map((d) => d.id)
        .sort(),
    ).toEqual(['1953-dwight-d-eisenhower', '1953-harry-s-truman']);
    expect(new Set(documents.map((d) => d.group)).size).toBe(43);
    expect(documents.every((d) => d.text.length > 1000)).toBe(true);
  });

  it('is mostly covered by the fixed vocabulary', () => {
    const words = documents.flatMap((d) => tokenize(d.text)).flat();
    const coverage = (size: number) => {
      const vocab = createVocabulary({ size });
      return words.filter((w) => vocab.idOf(w) !== UNK_ID).length / words.length;
    };
    // Measured when written: 82.1% at 5000 tokens, 89.5% at 10004 (1.81M word tokens).
    expect(coverage(5000)).toBeGreaterThan(0.81);
    expect(coverage(10_004)).toBeGreaterThan(0.89);
  });
});

describe('loadSpamAssassin', () => {
  let documents: Document[];
  // Parsing 6,046 messages takes ~3 s alone and past the default 10 s hook timeout on a loaded 2-core machine.
  beforeAll(() => {
    documents = loadSpamAssassin();
  }, 60_000);

  it('returns one document per message with a readable body, grouped without folder numbers', () => {
    const counts: Record<string, number> = {};
    for (const d of documents) counts[d.group] = (counts[d.group] ?? 0) + 1;
    // 6,046 messages; the 37 skipped have no words left (image-only HTML, bare links, a whole
    // body below "-- ", undecodable text).
    expect(counts).toEqual({ 'easy-ham': 3885, 'hard-ham': 250, spam: 1874 });
    expect(new Set(documents.map((d) => d.id)).size).toBe(documents.length);
    expect(documents[0]?.id).toBe('easy-ham-1/00001');
    expect(documents.every((d) => tokenize(d.text).length > 0)).toBe(true);
  });

  it('keeps headers out of spam bodies', () => {
    const header = /^(?:Received|Return-Path|Delivered-To|Message-Id|Content-Type|Content-Transfer-Encoding|MIME-Version|X-Mailer):/im;
    const withHeaders = documents.filter((d) => d.group === 'spam' && header.test(d.text)).map((d) => d.id);
    // Checked by hand; each carries a header line inside its own text: 00080 ends with a stray
    // "Content-Transfer-Encoding: 7BIT" its spamware appended after the ad, 00677 is a spam
    // forwarded inline to a "sightings" list, 00692 pastes a "----- Headers -----" section.
    expect(withHeaders).toEqual(['spam-2/00080', 'spam-2/00677', 'spam-2/00692']);
  });

  it('filters by group', () => {
    const hard = loadSpamAssassin({ groups: ['hard-ham'] });
    expect(hard).toHaveLength(250);
    expect(hard.every((d) => d.group === 'hard-ham')).toBe(true);
    expect(() => loadSpamAssassin({ groups: ['ham' as SpamAssassinGroup] })).toThrow(/groups must be among easy-ham, hard-ham, spam, got 'ham'/);
  });
});

describe('extractBody', () => {
  it('drops headers, quoted lines with their attribution, and the signature', () => {
    const raw = [
      'From someone@example.com  Thu Aug 22 12:36:23 2002',
      'Received: from localhost (localhost [127.0.0.1])',
      '\tby example.com with ESMTP',
      'Subject: Re: lunch',
      '',
      'On Thursday, Bob wrote:',
      '> Shall we meet at noon?',
      '> > Earlier quote.',
      '',
      'Noon works for me.',
      'See you there.',
      '-- ',
      'Alice, the signature',
    ].join('\n');
    expect(extractBody(raw)).toBe('Noon works for me.\nSee you there.');
  });

  it('takes the text/plain part of a multipart message and skips attachments', () => {
    const raw = [
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      'This is a multi-part message in MIME format.',
      '--outer',
      'Content-Type: multipart/alternative; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'Plain words here.',
      '--inner',
      'Content-Type: text/html',
      '',
      '<p>HTML words here.</p>',
      '--inner--',
      '--outer',
      'Content-Type: text/plain; name="notes.txt"',
      'Content-Transfer-Encoding: base64',
      '',
      'QXR0YWNoZWQgd29yZHMu',
      '--outer--',
    ].join('\n');
    expect(extractBody(raw)).toBe('Plain words here.');
  });

  it('strips tags and decodes entities when only HTML exists', () => {
    const raw = [
      'Content-Type: text/html; charset=iso-8859-1',
      '',
      '<html><head><title>Ad</title><style>p {color: red}</style></head>',
      '<body><p>Only <b>18&nbsp;cents</b> &amp; no fees!</p><p>Caf&eacute;? Caf&#233;!</p>',
      '<a href="http://example.com/x">Click here</a></body></html>',
    ].join('\n');
    const body = extractBody(raw);
    expect(tokenize(body)).toEqual([['only', '18', 'cents', 'no', 'fees'], ['caf'], ['café'], ['click', 'here']]);
    expect(body).not.toMatch(/[<>]/);
  });

  it('decodes quoted-printable, soft line breaks included, in the declared charset', () => {
    const raw = [
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'This line is so long that it was wrapped with a soft br=',
      'eak, and na=EFve =3D plain.',
    ].join('\n');
    expect(extractBody(raw)).toBe('This line is so long that it was wrapped with a soft break, and naïve = plain.');
  });

  it('decodes a base64 text part and removes URLs and addresses', () => {
    const text = 'Write to <bob@example.com> or see http://example.com/page today.';
    const raw = ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', Buffer.from(text).toString('base64')].join('\n');
    expect(tokenize(extractBody(raw))).toEqual([['write', 'to', 'or', 'see', 'today']]);
  });

  it('repairs a missing multipart Content-Type and a blank line inside the headers', () => {
    const raw = [
      'Subject: =?GB2312?B?0rvN?=',
      '',
      ' =?GB2312?B?yNW1?=',
      'To: someone@example.com',
      'MIME-Version: 1.0',
      '',
      '--boundary 42',
      'Content-Type: text/plain',
      '',
      'The real body.',
      '--boundary 42--',
    ].join('\n');
    expect(extractBody(raw)).toBe('The real body.');
  });
});

describe('loadCorpus', () => {
  it('loads by name and rejects unknown names', () => {
    expect(loadCorpus('sotu')).toHaveLength(233);
    expect(() => loadCorpus('enron' as CorpusName)).toThrow(/expected 'sotu', 'spam-assassin' or 'population', got 'enron'/);
  });
});

describe('loadPrivacyPopulation', () => {
  it('cuts each address into passages of 5 sentences and groups mail by sender', () => {
    const documents = loadPrivacyPopulation();
    const passages = documents.filter((d) => d.group.startsWith('sotu/'));
    const mail = documents.filter((d) => d.group.startsWith('mail/'));
    // Every sentence of every address lands in exactly one passage, in order.
    const addresses = loadStateOfTheUnion();
    const sentences = addresses.reduce((sum, { text }) => sum + splitSentences(text).length, 0);
    expect(passages).toHaveLength(addresses.reduce((sum, { text }) => sum + Math.ceil(splitSentences(text).length / PASSAGE_SENTENCES), 0));
    expect(passages.reduce((sum, { text }) => sum + splitSentences(text).length, 0)).toBeGreaterThanOrEqual(sentences * 0.99);
    expect(new Set(passages.map((d) => d.group)).size).toBe(passages.length);
    expect(mail).toHaveLength(3885 + 250 + 1874);
    const senders = new Set(mail.map((d) => d.group));
    expect(senders.size).toBeGreaterThan(2000);
    expect(senders.size).toBeLessThan(mail.length);
    expect(passages.length + senders.size).toBeGreaterThanOrEqual(10_000);
  });

  it('reads the sender from the From header', () => {
    expect(senderAddress('From: "Jane Doe" <Jane@Example.org>\nSubject: hi\n\nbody')).toBe('jane@example.org');
    expect(senderAddress('Subject: x\nFrom: bob@example.com (Bob)\n\nbody')).toBe('bob@example.com');
    expect(senderAddress('Subject: no sender\n\nFrom: eve@example.com in the body')).toBeNull();
  });
});
