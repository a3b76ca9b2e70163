export interface WeightedUpdate {
  delta: Float32Array;
  /** FedAvg's weight: the client's number of training examples (or 1 for a uniform mean). */
  weight: number;
}

/**
 * Σ wᵢΔᵢ / Σ wᵢ, accumulated in float64 so that hundreds of float32 updates average without
 * drifting. Throws on empty input, mismatched lengths, non-finite values or non-positive weights.
 */
export function weightedMean(updates: readonly WeightedUpdate[]): Float32Array {
  const first = updates[0];
  if (!first) throw new RangeError('weightedMean: expected at least one update, got none');
  const dimension = first.delta.length;
  const sum = new Float64Array(dimension);
  let totalWeight = 0;
  updates.forEach(({ delta, weight }, index) => {
    if (delta.length !== dimension) {
      throw new RangeError(`weightedMean: update ${index} has length ${delta.length}, expected ${dimension}`);
    }
    if (!(weight > 0) || !Number.isFinite(weight)) {
      throw new RangeError(`weightedMean: update ${index} has weight ${weight}, expected a positive finite number`);
    }
    for (let i = 0; i < dimension; i++) sum[i] = (sum[i] as number) + weight * (delta[i] as number);
    totalWeight += weight;
  });
  const mean = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) {
    const value = (sum[i] as number) / totalWeight;
    if (!Number.isFinite(value)) throw new RangeError(`weightedMean: coordinate ${i} is not finite`);
    mean[i] = value;
  }
  return mean;
}
