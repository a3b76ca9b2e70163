import { describe, expect, it } from 'vitest';
import { partitionClients, type PartitionOptions } from './partition';
import { splitHeldOut } from './split';
import type { Client, Document } from './types';

/**
 * 6 groups × 4 documents with 5 to 24 sentences each. Every sentence is unique and names its
 * group, so tests can check disjointness and group mixtures from the text alone.
 */
function corpus(): Document[] {
  const documents: Document[] = [];
  for (let g = 0; g < 6; g++) {
    for (let d = 0; d < 4; d++) {
      const count = 5 + ((g * 7 + d * 5) % 20);
      const sentences = Array.from({ length: count }, (_, s) => `Group ${g} wrote document ${d} line ${s}.`);
      documents.push({ id: `g${g}-d${d}`, group: `g${g}`, text: sentences.join(' ') });
    }
  }
  return documents;
}

const DOCUMENTS = corpus();
const ALL_SENTENCES = DOCUMENTS.flatMap((d) => d.text.split(/(?<=\.) /));

function allTexts(clients: readonly Client[]): string[] {
  return clients.flatMap((c) => c.texts);
}

function groupOf(sentence: string): string {
  return `g${/^Group (\d+)/.exec(sentence)?.[1] ?? '?'}`;
}

/** Mean over clients of the largest share of one group in the client's sentences. */
function meanTopGroupShare(clients: readonly Client[]): number {
  const shares = clients.map((client) => {
    const counts = new Map<string, number>();
    for (const text of client.texts) counts.set(groupOf(text), (counts.get(groupOf(text)) ?? 0) + 1);
    return Math.max(...counts.values()) / client.texts.length;
  });
  return shares.reduce((a, b) => a + b, 0) / shares.length;
}

describe('partitionClients', () => {
  it('natural: one client per document, holding its sentences in order', () => {
    const clients = partitionClients(DOCUMENTS, { scheme: 'natural' });
    expect(clients.map((c) => c.id)).toEqual(DOCUMENTS.map((d) => d.id));
    expect(clients[0]?.texts.slice(0, 2)).toEqual(['Group 0 wrote document 0 line 0.', 'Group 0 wrote document 0 line 1.']);
    expect(allTexts(clients)).toEqual(ALL_SENTENCES);
  });

  it('natural by group: one client per group, in order of first appearance', () => {
    const shuffled = [DOCUMENTS[5], DOCUMENTS[0], ...DOCUMENTS.slice(1, 5), ...DOCUMENTS.slice(6)] as Document[];
    const clients = partitionClients(shuffled, { scheme: 'natural', unit: 'group' });
    expect(clients.map((c) => c.id)).toEqual(['g1', 'g0', 'g2', 'g3', 'g4', 'g5']);
    for (const client of clients) expect(client.texts.every((t) => groupOf(t) === client.id)).toBe(true);
  });

  it('leaves out documents without sentences', () => {
    const clients = partitionClients([...DOCUMENTS, { id: 'empty', group: 'g0', text: ' ... ' }], { scheme: 'natural' });
    expect(clients.map((c) => c.id)).not.toContain('empty');
  });

  describe.each<[string, Extract<PartitionOptions, { seed: number }>]>([
    ['iid', { scheme: 'iid', seed: 1 }],
    ['dirichlet', { scheme: 'dirichlet', seed: 1, alpha: 0.5 }],
    ['iid by group', { scheme: 'iid', unit: 'group', seed: 1 }],
    ['dirichlet by group', { scheme: 'dirichlet', unit: 'group', seed: 1 }],
  ])('%s', (_, options) => {
    const natural = partitionClients(DOCUMENTS, { scheme: 'natural', unit: options.unit ?? 'document' });
    const clients = partitionClients(DOCUMENTS, options);

    it('keeps the natural client count and sizes', () => {
      expect(clients.map((c) => c.texts.length)).toEqual(natural.map((c) => c.texts.length));
    });

    it('places every sentence exactly once', () => {
      const texts = allTexts(clients);
      expect(new Set(texts).size).toBe(texts.length);
      expect([...texts].sort()).toEqual([...ALL_SENTENCES].sort());
    });

    it('is deterministic by seed, and differs with another seed', () => {
      expect(partitionClients(DOCUMENTS, options)).toEqual(clients);
      expect(partitionClients(DOCUMENTS, { ...options, seed: 2 })).not.toEqual(clients);
    });

    it('mixes groups across clients, unlike the natural split', () => {
      expect(clients.some((c) => new Set(c.texts.map(groupOf)).size > 1)).toBe(true);
      expect(clients.map((c) => c.id)[0]).toMatch(/^(iid|dirichlet)-\d+$/);
    });
  });

  it('dirichlet: a small alpha gives more skewed clients than a large one', () => {
    const skew = (alpha: number) => meanTopGroupShare(partitionClients(DOCUMENTS, { scheme: 'dirichlet', seed: 3, alpha }));
    const iid = meanTopGroupShare(partitionClients(DOCUMENTS, { scheme: 'iid', seed: 3 }));
    // 6 balanced groups: a client of one group has share 1; a perfectly mixed one ≈ 1/6.
    expect(skew(0.01)).toBeGreaterThan(0.8);
    expect(skew(100)).toBeLessThan(0.5);
    expect(skew(0.01)).toBeGreaterThan(skew(1));
    expect(skew(1)).toBeGreaterThan(skew(100));
    expect(Math.abs(skew(1000) - iid)).toBeLessThan(0.15);
  });

  it('dirichlet: handles a group too small for the clients that want it', () => {
    // One big group, one tiny one: clients drawn towards the tiny group exhaust it and fall back.
    const documents: Document[] = [
      { id: 'big', group: 'big', text: Array.from({ length: 200 }, (_, i) => `Big ${i}.`).join(' ') },
      { id: 'tiny', group: 'tiny', text: 'Tiny one. Tiny two.' },
      ...Array.from({ length: 8 }, (_, i) => ({ id: `x${i}`, group: 'big', text: `Extra ${i}. Another ${i}.` })),
    ];
    for (const seed of [1, 2, 3]) {
      const clients = partitionClients(documents, { scheme: 'dirichlet', seed, alpha: 0.01 });
      const texts = allTexts(clients);
      expect(texts).toHaveLength(218);
      expect(new Set(texts).size).toBe(218);
    }
  });

  it('rejects bad input with a clear message', () => {
    const dup = [DOCUMENTS[0], DOCUMENTS[0]] as Document[];
    expect(() => partitionClients(dup, { scheme: 'natural' })).toThrow(/document id 'g0-d0' appears twice \(at 1\)/);
    expect(() => partitionClients([{ id: 'a', group: 'g' } as Document], { scheme: 'natural' })).toThrow(/document 0 must have string id, group and text/);
    expect(() => partitionClients(DOCUMENTS, { scheme: 'random' } as unknown as PartitionOptions)).toThrow(
      /scheme must be 'natural', 'iid' or 'dirichlet', got random/,
    );
    expect(() => partitionClients(DOCUMENTS, { scheme: 'natural', unit: 'author' } as unknown as PartitionOptions)).toThrow(
      /unit must be 'document' or 'group', got author/,
    );
    expect(() => partitionClients(DOCUMENTS, { scheme: 'dirichlet', seed: 1, alpha: 0 })).toThrow(/alpha must be a finite number > 0, got 0/);
    expect(() => partitionClients(DOCUMENTS, { scheme: 'iid', seed: 0.5 })).toThrow(/seed must be an integer, got 0.5/);
  });
});

describe('splitHeldOut', () => {
  const clients = partitionClients(DOCUMENTS, { scheme: 'natural' });

  it('splits whole clients, disjoint and covering, deterministic by seed', () => {
    const { train, test } = splitHeldOut(clients, { testFraction: 0.25, seed: 4 });
    expect(test).toHaveLength(6);
    expect(train).toHaveLength(18);
    const trainIds = new Set(train.map((c) => c.id));
    expect(test.some((c) => trainIds.has(c.id))).toBe(false);
    expect([...train, ...test].map((c) => c.id).sort()).toEqual(clients.map((c) => c.id).sort());
    expect(splitHeldOut(clients, { testFraction: 0.25, seed: 4 })).toEqual({ train, test });
    expect(splitHeldOut(clients, { testFraction: 0.25, seed: 5 }).test).not.toEqual(test);
  });

  it('keeps at least one client on each side', () => {
    expect(splitHeldOut(clients, { testFraction: 0.001, seed: 1 }).test).toHaveLength(1);
    expect(splitHeldOut(clients, { testFraction: 0.999, seed: 1 }).train).toHaveLength(1);
    const two = clients.slice(0, 2);
    const { train, test } = splitHeldOut(two, { testFraction: 0.5, seed: 1 });
    expect([train.length, test.length]).toEqual([1, 1]);
  });

  it('rejects bad input', () => {
    expect(() => splitHeldOut(clients.slice(0, 1), { testFraction: 0.5, seed: 1 })).toThrow(/expected at least 2 clients, got 1/);
    for (const testFraction of [0, 1, Number.NaN]) {
      expect(() => splitHeldOut(clients, { testFraction, seed: 1 })).toThrow(/testFraction must be in \(0, 1\), got/);
    }
    expect(() => splitHeldOut([clients[0], clients[0]] as Client[], { testFraction: 0.5, seed: 1 })).toThrow(/client ids must be unique/);
  });
});
