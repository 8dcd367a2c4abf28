/**
 * A random EGNN whose coordinate updates are of order 1, for tests that compare two
 * implementations: EGNN's own init (EDM's xavier gain 0.001 on phi_x's output layer) makes the
 * coordinate updates ~1e-4, so an export or a gradient that dropped or garbled them would still
 * match an untrained network to float32 tolerance. phi_x's output layer is scaled up x 300.
 */
import { keyFromSeed } from '../../src/core/key.js';
import { initEgnn, type EgnnConfig } from '../../src/models/egnn.js';
import type { Tensors } from '../../src/models/tensors.js';

export function randomEgnn(cfg: EgnnConfig, seed: number): Tensors {
  const p = initEgnn(keyFromSeed(seed), cfg);
  for (let l = 0; l < cfg.layers; l++) {
    const w = p[`layers.${l}.coord_mlp.2.weight`].data;
    for (let i = 0; i < w.length; i++) w[i] *= 300;
  }
  return p;
}
