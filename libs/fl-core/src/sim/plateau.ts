/**
 * Evaluations since the held-out loss last improved: what a run's patience stops on. A resumed run
 * replays the evaluations it already recorded, so resuming does not reset the count.
 */
export class LossPlateau {
  #best = Number.POSITIVE_INFINITY;
  #since = 0;

  /**
   * The plateau after a run's recorded evaluations, each under the training setting it ran with
   * (rates, softmax): patience restarts wherever the setting changed, and again when the run goes
   * on under `current`. Entries without a loss (rounds not evaluated) only carry their setting.
   */
  static replay(history: Iterable<{ loss: number | undefined; setting: string }>, current: string): LossPlateau {
    const plateau = new LossPlateau();
    let settingSoFar: string | undefined;
    for (const { loss, setting } of history) {
      if (settingSoFar !== undefined && setting !== settingSoFar) plateau.restart();
      settingSoFar = setting;
      if (loss !== undefined) plateau.observe(loss);
    }
    if (settingSoFar !== undefined && current !== settingSoFar) plateau.restart();
    return plateau;
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
