#!/usr/bin/env python3
"""Reference probabilities for kneser-ney.test.ts, written separately from the TypeScript.

Interpolated modified Kneser-Ney (Chen & Goodman 1998, TR-10-98 §3, discounts eq. 26) over the
sentences below, each read as <bos> w1 ... wn <eos> with the history left-padded with <pad>.
Conventions shared with kneser-ney.ts (the *what*, not the code):
  - adjusted count of an n-gram: its raw count at the model's highest order, or when its first
    token is <pad> or <bos> (nothing else can precede it); otherwise the number of distinct
    tokens seen before it (its continuation count);
  - discounts per order from that order's count-of-counts of adjusted counts, or 0.5 / 1 / 1.5
    (KenLM's --discount_fallback values) when the closed form fails or leaves [0, k];
  - the order-0 distribution is uniform over the vocabulary minus <pad> and <bos>.
Exact rational arithmetic (fractions.Fraction), printed as 17 significant digits.
Standard library only: python3 kneser-ney.reference.py
"""
from fractions import Fraction

PAD, UNK, BOS, EOS = 0, 1, 2, 3
V = 100  # createVocabulary({ size: 100 })
# Word ids of createVocabulary({ size: 100 }): you 4, the 6, to 7, it 10, that 12, and 13,
# of 14, what 15; 1 is <unk> (a word outside the vocabulary).
SENTENCES = [
    [6, 7, 10], [6, 7, 10], [6, 7, 12], [6, 7, 10, 13], [4, 6, 7],
    [4, 6, 14], [4, 12, 13, 6], [10, 13, 6, 7], [15, 10, 13], [15, 4, 13],
    [6, 1, 7, 10], [1, 1, 6], [12, 14, 6, 7], [13, 6, 7, 10], [4, 15],
    [6], [7, 7, 7], [14, 15, 10, 13, 6, 7, 12], [6, 7, 10, 13, 4], [12],
]


def grams(order):
    """Raw counts of every k-gram, k <= order, at every predicted position."""
    raw = {}
    for words in SENTENCES:
        seq = [PAD] * (order - 2) + [BOS] + words + [EOS] if order >= 2 else [BOS] + words + [EOS]
        first_target = seq.index(BOS) + 1
        for i in range(first_target, len(seq)):
            for k in range(1, order + 1):
                g = tuple(seq[i - k + 1 : i + 1])
                raw[g] = raw.get(g, 0) + 1
    return raw


def build(order):
    raw = grams(order)
    adjusted = {}
    for g, c in raw.items():
        if len(g) == order or g[0] in (PAD, BOS):
            adjusted[g] = c
        else:
            adjusted[g] = len({h[0] for h in raw if len(h) == len(g) + 1 and h[1:] == g})
    discounts = {}
    for k in range(1, order + 1):
        n = [sum(1 for g, a in adjusted.items() if len(g) == k and a == j) for j in range(5)]
        d = None
        if all(n[j] > 0 for j in range(1, 5)):
            y = Fraction(n[1], n[1] + 2 * n[2])
            d = [Fraction(0)] + [j - (j + 1) * y * Fraction(n[j + 1], n[j]) for j in (1, 2, 3)]
            if any(d[j] < 0 or d[j] > j for j in (1, 2, 3)):
                d = None
        discounts[k] = (d, False) if d else ([Fraction(0), Fraction(1, 2), Fraction(1), Fraction(3, 2)], True)
    return adjusted, discounts


def probability(adjusted, discounts, w, history):
    if len(history) == 0:
        lower = Fraction(0) if w in (PAD, BOS) else Fraction(1, V - 2)
    else:
        lower = probability(adjusted, discounts, w, history[1:])
    k = len(history) + 1
    followers = {g[-1]: a for g, a in adjusted.items() if len(g) == k and g[:-1] == history}
    total = sum(followers.values())
    if total == 0:
        return lower
    d = discounts[k][0]
    disc = lambda a: d[min(a, 3)]
    gamma = sum(disc(a) for a in followers.values()) / total
    a = followers.get(w, 0)
    return max(a - disc(a), 0) / total + gamma * lower


def history_of(context, order):
    """The last order-1 ids of a context, left-padded with <pad>."""
    padded = [PAD] * order + list(context)
    return tuple(padded[len(padded) - (order - 1) :]) if order > 1 else ()


CONTEXTS = [[BOS], [BOS, 6], [BOS, 6, 7], [6, 7, 10], [13, 6, 7], [15, 4, 13], [99, 98, 97], [BOS, 1, 1]]
IDS = [1, 3, 4, 6, 7, 10, 12, 13, 14, 15, 50]

for order in (2, 3, 4):
    adjusted, discounts = build(order)
    print(f"order {order}")
    for k in range(1, order + 1):
        d, fallback = discounts[k]
        print(f"  discounts k={k}: {[f'{float(x):.17g}' for x in d[1:]]} fallback={fallback}")
    for context in CONTEXTS:
        h = history_of(context, order)
        ps = [probability(adjusted, discounts, w, h) for w in IDS]
        total = sum(probability(adjusted, discounts, w, h) for w in range(V))
        assert total == 1, total
        print(f"  context {context}: [{', '.join(f'{float(p):.17g}' for p in ps)}]")
