export { circles, type CirclesOptions } from './circles.js';
export { moons } from './moons.js';
export { pinwheel } from './pinwheel.js';
export { twoSpirals } from './spirals.js';
export { checkerboard } from './checkerboard.js';
export { eightGaussians } from './eightGaussians.js';
