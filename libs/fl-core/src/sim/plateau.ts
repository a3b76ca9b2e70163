/**
 * Evaluations since the held-out loss last improved: what a run's patience stops on. Seeded with
 * the losses a resumed run already recorded, so resuming does not reset the count.
 */
export class LossPlateau {
  #best = Number.POSITIVE_INFINITY;
  #since = 0;

  constructor(history: Iterable<number> = []) {
    for (const loss of history) this.observe(loss);
  }

  /** Starts a fresh wait, keeping the best loss: after a learning-rate change, patience counts anew. */
  restart(): void {
    this.#since = 0;
  }

  /** Records one evaluation's loss; returns the evaluations since the best one (0 if this is it). */
  observe(loss: number): number {
    if (loss < this.#best) {
      this.#best = loss;
      this.#since = 0;
    } else {
      this.#since += 1;
    }
    return this.#since;
  }
}
