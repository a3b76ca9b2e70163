import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../random/index';
import { BOS_ID, createVocabulary, EOS_ID, PAD_ID, textToExamples, UNK_ID } from '../text/index';
import { suggestionIds, UNSUGGESTABLE_TOKEN_IDS } from '../train/evaluate';
import { countNgrams } from './counts';
import { kneserNey } from './kneser-ney';

const VOCABULARY = createVocabulary({ size: 100 });

/** One text per sentence, so each becomes <bos> … <eos>; id 1 is written as a word outside the vocabulary. */
function examplesOf(sentences: readonly (readonly number[])[], contextLength: number) {
  const texts = sentences.map((ids) => ids.map((id) => (id === UNK_ID ? 'qqqq' : VOCABULARY.wordOf(id))).join(' '));
  const examples = textToExamples(texts, VOCABULARY, contextLength);
  expect(examples.count).toBe(sentences.reduce((n, s) => n + s.length + 1, 0));
  return examples;
}

// The corpus of kneser-ney.reference.py (you 4, the 6, to 7, it 10, that 12, and 13, of 14, what 15).
const SENTENCES = [
  [6, 7, 10],
  [6, 7, 10],
  [6, 7, 12],
  [6, 7, 10, 13],
  [4, 6, 7],
  [4, 6, 14],
  [4, 12, 13, 6],
  [10, 13, 6, 7],
  [15, 10, 13],
  [15, 4, 13],
  [6, 1, 7, 10],
  [1, 1, 6],
  [12, 14, 6, 7],
  [13, 6, 7, 10],
  [4, 15],
  [6],
  [7, 7, 7],
  [14, 15, 10, 13, 6, 7, 12],
  [6, 7, 10, 13, 4],
  [12],
];
const REFERENCE_IDS = [1, 3, 4, 6, 7, 10, 12, 13, 14, 15, 50];

// From `python3 kneser-ney.reference.py` (exact rational arithmetic, printed to 17 digits), pasted:
// per order, the discounts [D1, D2, D3+, fallback] of each k-gram order, then for each context
// the probabilities of REFERENCE_IDS. Id 50 never occurs, so its column is the product of the
// interpolation weights γ over 98 (the order-0 uniform share).
const REFERENCE: Record<2 | 3 | 4, { discounts: [number, number, number, boolean][]; probabilities: [number[], number[]][] }> = {
  2: {
    discounts: [
      [0.5, 1, 1.5, true],
      [0.5, 1, 1.5, true],
    ],
    probabilities: [
      [
        [2],
        [
          0.040894819466248039, 0.063971742543171117, 0.14089481946624804, 0.31012558869701728, 0.050510204081632655, 0.040894819466248039,
          0.065894819466248034, 0.050510204081632655, 0.040894819466248039, 0.065894819466248034, 0.0014717425431711147,
        ],
      ],
      [
        [2, 6],
        [
          0.044636316064887493, 0.14549101691958835, 0.011302982731554161, 0.024978196406767836, 0.58480725623582763, 0.011302982731554161,
          0.011302982731554161, 0.018140589569160998, 0.044636316064887493, 0.011302982731554161, 0.0010465724751439038,
        ],
      ],
      [
        [2, 6, 7],
        [
          0.015137923301188608, 0.23949689766016297, 0.015137923301188608, 0.033452941616206926, 0.095724003887269191, 0.33656649472976002,
          0.086566494729760038, 0.024295432458697766, 0.015137923301188608, 0.015137923301188608, 0.001401659564924871,
        ],
      ],
      [
        [6, 7, 10],
        [
          0.014128728414442701, 0.33464154892726322, 0.014128728414442701, 0.031222745508459795, 0.022675736961451247, 0.014128728414442701,
          0.014128728414442701, 0.41156462585034015, 0.014128728414442701, 0.014128728414442701, 0.0013082155939298796,
        ],
      ],
      [
        [13, 6, 7],
        [
          0.015137923301188608, 0.23949689766016297, 0.015137923301188608, 0.033452941616206926, 0.095724003887269191, 0.33656649472976002,
          0.086566494729760038, 0.024295432458697766, 0.015137923301188608, 0.015137923301188608, 0.001401659564924871,
        ],
      ],
      [
        [15, 4, 13],
        [
          0.018543956043956044, 0.26213369963369965, 0.081043956043956047, 0.3534798534798535, 0.02976190476190476, 0.018543956043956044, 0.018543956043956044,
          0.02976190476190476, 0.018543956043956044, 0.018543956043956044, 0.001717032967032967,
        ],
      ],
      [
        [99, 98, 97],
        [
          0.042386185243328101, 0.17059131344845629, 0.042386185243328101, 0.093668236525379381, 0.068027210884353748, 0.042386185243328101,
          0.042386185243328101, 0.068027210884353748, 0.042386185243328101, 0.042386185243328101, 0.0039246467817896386,
        ],
      ],
      [
        [2, 1, 1],
        [
          0.18785975928833071, 0.085295656724228147, 0.02119309262166405, 0.21350078492935637, 0.20068027210884354, 0.02119309262166405, 0.02119309262166405,
          0.034013605442176874, 0.02119309262166405, 0.02119309262166405, 0.0019623233908948193,
        ],
      ],
    ],
  },
  3: {
    discounts: [
      [0.5, 1, 1.5, true],
      [0.6097560975609756, 1.3140243902439024, 1.3739837398373984, false],
      [0.6785714285714286, 1.5476190476190477, 0.2857142857142857, false],
    ],
    probabilities: [
      [
        [2],
        [
          0.029261070432595446, 0.025364818620947291, 0.23836264805551452, 0.44893408345164504, 0.03307357384494642, 0.029261070432595446, 0.041028002052804505,
          0.03307357384494642, 0.029261070432595446, 0.041028002052804505, 0.00058354644066596531,
        ],
      ],
      [
        [2, 6],
        [
          0.060480085385866515, 0.10596958964424417, 0.0043852897440325445, 0.009690948940516364, 0.74898638916510873, 0.0043852897440325445,
          0.0043852897440325445, 0.0070381193422744534, 0.014561718038927737, 0.0043852897440325445, 0.00040604534666968,
        ],
      ],
      [
        [2, 6, 7],
        [
          0.0058405395891174177, 0.3157008689616419, 0.0058405395891174177, 0.012906871437679232, 0.030139633835946856, 0.49803503934023735,
          0.062892140717373604, 0.0093737055133983251, 0.0058405395891174177, 0.0058405395891174177, 0.00054079070269605714,
        ],
      ],
      [
        [6, 7, 10],
        [
          0.0064230194892215802, 0.67470858818129431, 0.0064230194892215802, 0.014194080105810651, 0.010308549797516116, 0.0064230194892215802,
          0.0064230194892215802, 0.20991495062342913, 0.0064230194892215802, 0.0064230194892215802, 0.00059472402677977591,
        ],
      ],
      [
        [13, 6, 7],
        [
          0.0058405395891174177, 0.3157008689616419, 0.0058405395891174177, 0.012906871437679232, 0.030139633835946856, 0.49803503934023735,
          0.062892140717373604, 0.0093737055133983251, 0.0058405395891174177, 0.0058405395891174177, 0.00054079070269605714,
        ],
      ],
      [
        [15, 4, 13],
        [
          0.015808412282093218, 0.46263312663729539, 0.059943139343649546, 0.21882933557740675, 0.025371525884840967, 0.015808412282093218,
          0.015808412282093218, 0.025371525884840967, 0.015808412282093218, 0.015808412282093218, 0.0014637418779715943,
        ],
      ],
      [
        [99, 98, 97],
        [
          0.042386185243328101, 0.17059131344845629, 0.042386185243328101, 0.093668236525379381, 0.068027210884353748, 0.042386185243328101,
          0.042386185243328101, 0.068027210884353748, 0.042386185243328101, 0.042386185243328101, 0.0039246467817896386,
        ],
      ],
      [
        [2, 1, 1],
        [
          0.1058072920940019, 0.070584384919875218, 0.017537837970889241, 0.44845448230216772, 0.11641660148379909, 0.017537837970889241, 0.017537837970889241,
          0.028147147360686436, 0.017537837970889241, 0.017537837970889241, 0.0016238738861934481,
        ],
      ],
    ],
  },
  4: {
    discounts: [
      [0.5, 1, 1.5, true],
      [0.6097560975609756, 1.3140243902439024, 1.3739837398373984, false],
      [0.66666666666666663, 1.8, 0.33333333333333331, false],
      [0.5, 1, 1.5, true],
    ],
    probabilities: [
      [
        [2],
        [
          0.036574789648504802, 0.010240029642250896, 0.2150046676972853, 0.44570795881673497, 0.038113935208229636, 0.036574789648504802, 0.061181878063138954,
          0.038113935208229636, 0.036574789648504802, 0.061181878063138954, 0.00023558350403951448,
        ],
      ],
      [
        [2, 6],
        [
          0.093711358946372808, 0.110193063387814, 0.0015888730956639652, 0.003511213384245059, 0.76545647049016807, 0.0015888730956639652,
          0.0015888730956639652, 0.0025500432399545121, 0.0052759847967129483, 0.0015888730956639652, 0.00014711787922814493,
        ],
      ],
      [
        [2, 6, 7],
        [
          0.0061949094068840926, 0.19933943425872602, 0.0061949094068840926, 0.013689984985583364, 0.031968330720375089, 0.53964936435959687,
          0.1301537612403004, 0.009942447196233729, 0.0061949094068840926, 0.0061949094068840926, 0.00057360272285963813,
        ],
      ],
      [
        [6, 7, 10],
        [
          0.0086418807673163071, 0.40822263725864188, 0.0086418807673163071, 0.019097489596908875, 0.013869685182112592, 0.0086418807673163071,
          0.0086418807673163071, 0.43654357858771331, 0.0086418807673163071, 0.0086418807673163071, 0.00080017414512188029,
        ],
      ],
      [
        [13, 6, 7],
        [
          0.0077436367586051153, 0.41584095949007421, 0.0077436367586051153, 0.017112481231979206, 0.039960413400468867, 0.21622837211616278,
          0.20435886821704216, 0.01242805899529216, 0.0077436367586051153, 0.0077436367586051153, 0.00071700340357454772,
        ],
      ],
      [
        [15, 4, 13],
        [
          0.0077655358578703525, 0.73603030782182932, 0.029445752660038373, 0.10749511221346297, 0.012463205697816615, 0.0077655358578703525,
          0.0077655358578703525, 0.012463205697816615, 0.0077655358578703525, 0.0077655358578703525, 0.00071903109795095862,
        ],
      ],
      [
        [99, 98, 97],
        [
          0.042386185243328101, 0.17059131344845629, 0.042386185243328101, 0.093668236525379381, 0.068027210884353748, 0.042386185243328101,
          0.042386185243328101, 0.068027210884353748, 0.042386185243328101, 0.042386185243328101, 0.0039246467817896386,
        ],
      ],
      [
        [2, 1, 1],
        [
          0.051975511905825493, 0.03467303118871063, 0.0086150783014894514, 0.72906535972738062, 0.057187102483269733, 0.0086150783014894514,
          0.0086150783014894514, 0.013826668878933687, 0.0086150783014894514, 0.0086150783014894514, 0.00079769243532309736,
        ],
      ],
    ],
  },
};

describe('kneserNey against the independent Python reference', () => {
  const counts = countNgrams(examplesOf(SENTENCES, 3), { maxOrder: 4, vocabularySize: 100 });

  it.each([2, 3, 4] as const)('order %i: discounts and probabilities agree to 1e-12', (order) => {
    const model = kneserNey(counts, order);
    const { discounts, probabilities } = REFERENCE[order];
    expect(model.discounts.map((d) => [d.d1, d.d2, d.d3plus, d.fallback])).toHaveLength(order);
    model.discounts.forEach((d, k) => {
      const [d1, d2, d3plus, fallback] = discounts[k] as [number, number, number, boolean];
      expect(d.fallback).toBe(fallback);
      for (const [actual, expected] of [
        [d.d1, d1],
        [d.d2, d2],
        [d.d3plus, d3plus],
      ] as const)
        expect(Math.abs(actual - expected)).toBeLessThan(1e-12);
    });
    for (const [context, expected] of probabilities) {
      const p = model.distribution(context);
      REFERENCE_IDS.forEach((id, i) =>
        expect(Math.abs((p[id] as number) - (expected[i] as number)), `order ${order}, context ${context}, id ${id}`).toBeLessThan(1e-12),
      );
    }
  });

  it.each([2, 3, 4] as const)('order %i: a token never seen after <bos> gets only the interpolated lower-order mass', (order) => {
    const model = kneserNey(counts, order);
    const afterBos = model.distribution([BOS_ID]);
    // No history at all: nothing but the order-1 level (every longer history is unseen).
    const unigram = model.distribution([99, 98, 97]);
    const starters = new Set(SENTENCES.map((s) => s[0]));
    const unseen = Array.from({ length: 100 }, (_, id) => id).filter((id) => id !== PAD_ID && id !== BOS_ID && !starters.has(id));
    // p(w | <pad>… <bos>) = γ(<pad>… <bos>) ⋯ γ(<bos>) · p₁(w): one shared factor below 1.
    const gamma = (afterBos[EOS_ID] as number) / (unigram[EOS_ID] as number);
    expect(gamma).toBeGreaterThan(0);
    expect(gamma).toBeLessThan(1);
    for (const id of unseen) expect((afterBos[id] as number) / (unigram[id] as number)).toBeCloseTo(gamma, 12);
    for (const id of starters) expect((afterBos[id as number] as number) / (unigram[id as number] as number)).toBeGreaterThan(gamma);
  });
});

describe('kneserNey distributions', () => {
  // A larger random corpus: 1,500 sentences of 1–12 words, Zipf-like over ids 4…299, some <unk>.
  const random = createSeededRandom(11);
  const vocabularySize = 300;
  const sentences = Array.from({ length: 1500 }, () =>
    Array.from({ length: 1 + random.nextInt(12) }, () => (random.nextFloat() < 0.05 ? UNK_ID : 4 + Math.floor(296 * random.nextFloat() ** 3))),
  );
  const vocabulary = createVocabulary({ size: vocabularySize });
  const contextLength = 5;
  const examples = textToExamples(
    sentences.map((ids) => ids.map((id) => (id === UNK_ID ? 'qqqq' : vocabulary.wordOf(id))).join(' ')),
    vocabulary,
    contextLength,
  );
  const counts = countNgrams(examples, { maxOrder: 4, vocabularySize });
  const contexts: number[][] = [
    [],
    [BOS_ID],
    ...Array.from({ length: 40 }, (_, i) => Array.from(examples.contexts.subarray(i * 37 * contextLength, (i * 37 + 1) * contextLength))),
    ...Array.from({ length: 40 }, () => Array.from({ length: 1 + random.nextInt(contextLength) }, () => random.nextInt(vocabularySize))),
  ];

  it.each([2, 3, 4])('order %i: sums to 1 within 1e-9 for seen, random and unseen contexts; only <pad> and <bos> get 0', (order) => {
    const model = kneserNey(counts, order);
    // Every word follows many distinct words here, so only the unigram level lacks small counts.
    expect(model.discounts.map((d) => d.fallback)).toEqual([true, ...Array.from({ length: order - 1 }, () => false)]);
    for (const context of contexts) {
      const p = model.distribution(context);
      expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
      p.forEach((value, id) => {
        if (id === PAD_ID || id === BOS_ID) expect(value).toBe(0);
        else expect(value).toBeGreaterThan(0);
      });
    }
  });

  it('suggests by the strip rule: the three most probable suggestable ids', () => {
    const model = kneserNey(counts, 3);
    for (const context of contexts.slice(0, 10)) {
      const suggested = model.topSuggestions(context);
      expect(suggested).toEqual(suggestionIds(model.distribution(context), 3));
      expect(suggested).toHaveLength(3);
      for (const id of suggested) expect(UNSUGGESTABLE_TOKEN_IDS).not.toContain(id);
    }
    expect(model.topSuggestions([BOS_ID], 5)).toHaveLength(5);
  });

  it('reuses an output buffer and names bad input', () => {
    const model = kneserNey(counts, 2);
    const into = new Float64Array(vocabularySize);
    expect(model.distribution([BOS_ID], into)).toBe(into);
    expect(() => model.distribution([BOS_ID], new Float64Array(3))).toThrow(/output has length 3, expected the vocabulary size 300/);
    expect(() => model.distribution([vocabularySize])).toThrow(/context id at position 0 is 300, expected an id in \[0, 300\)/);
    expect(() => kneserNey(counts, 5)).toThrow(/order must be an integer in \[1, 4\] \(the counts' maxOrder\), got 5/);
  });
});
