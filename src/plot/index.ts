export * from './render.js';
export * from './scatter.js';
export * from './histogram.js';
export * from './heatmap.js';
export * from './panel.js';
