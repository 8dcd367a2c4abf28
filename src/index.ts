export * from './core/batch.js';
export * from './core/key.js';
export * from './core/types.js';
