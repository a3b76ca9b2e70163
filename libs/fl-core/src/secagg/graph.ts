import { chacha20 } from '@noble/ciphers/chacha.js';

/**
 * SecAgg+ communication graph (Bell et al. 2020, the k-regular-graph construction): instead of all n − 1 peers, each client
 * masks with and shares its secrets among its k neighbours in a k-regular graph. Like Bell et al.'s
 * practical instantiation we use the Harary graph H(k, n) — client at position p of a random order
 * is adjacent to positions p ± 1, …, p ± k/2 (mod n) — with the order drawn from a public 32-byte
 * seed chosen by the server, so every party derives the same graph and the server cannot place
 * clients adversarially after seeing who they are (the seed is fixed in the round config before
 * AdvertiseKeys). k must be even; k = n − 1 (n odd) is the complete graph.
 *
 * The order is a Fisher–Yates shuffle driven by ChaCha20(seed) with rejection sampling (no modulo
 * bias). The seed is public, so this stream only needs to be a good deterministic PRF.
 */
export function hararyNeighbours(clientCount: number, degree: number, seed: Uint8Array): number[][] {
  if (!Number.isInteger(clientCount) || clientCount < 2) throw new RangeError(`hararyNeighbours: clientCount ${clientCount} must be an integer ≥ 2`);
  if (!Number.isInteger(degree) || degree < 2 || degree % 2 !== 0 || degree > clientCount - 1) {
    throw new RangeError(`hararyNeighbours: degree ${degree} must be even and in [2, ${clientCount - 1}]`);
  }
  if (seed.length !== 32) throw new RangeError(`hararyNeighbours: seed has ${seed.length} bytes, expected 32`);
  const order = shuffledOrder(clientCount, seed);
  const position = new Int32Array(clientCount);
  order.forEach((client, p) => (position[client] = p));
  const half = degree / 2;
  return Array.from({ length: clientCount }, (_, client) => {
    const p = position[client] as number;
    const neighbours = new Set<number>();
    for (let j = 1; j <= half; j++) {
      neighbours.add(order[(p + j) % clientCount] as number);
      neighbours.add(order[(p - j + clientCount) % clientCount] as number);
    }
    return [...neighbours].sort((a, b) => a - b);
  });
}

function shuffledOrder(count: number, seed: Uint8Array): number[] {
  const nonce = new Uint8Array(12);
  nonce.set(new TextEncoder().encode('harary'));
  let words = new Uint32Array(0);
  let used = 0;
  let block = 0;
  const nextWord = (): number => {
    if (used === words.length) {
      // Rejection needs < 2 words per draw on average; refill in chunks when it needs more.
      // Whole 64-byte ChaCha20 blocks, so the block counter of a second refill stays an integer.
      const chunk = new Uint8Array(64 * Math.ceil((8 * count) / 64));
      chacha20(seed, nonce, chunk, chunk, block);
      block += chunk.length / 64;
      // Little-endian words explicitly: every party, whatever its byte order, derives this graph.
      const view = new DataView(chunk.buffer);
      words = Uint32Array.from({ length: chunk.length / 4 }, (_, i) => view.getUint32(4 * i, true));
      used = 0;
    }
    return words[used++] as number;
  };
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const bound = i + 1;
    const limit = Math.floor(2 ** 32 / bound) * bound;
    let word = nextWord();
    while (word >= limit) word = nextWord();
    const j = word % bound;
    const tmp = order[i] as number;
    order[i] = order[j] as number;
    order[j] = tmp;
  }
  return order;
}
