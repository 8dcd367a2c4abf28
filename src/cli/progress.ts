/**
 * Progress for long commands: a redrawn bar on a terminal, plain lines (about every 10% and at
 * most every few seconds) when stderr is a pipe or a file, nothing when quiet.
 */
export interface Progress {
  tick(done: number, info?: string): void;
  finish(info?: string): void;
}

export function createProgress(label: string, total: number, opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { tick() {}, finish() {} };
  const start = Date.now();
  const tty = Boolean(stream.isTTY);
  let lastPct = -1;
  let lastTime = 0;
  const line = (done: number, info?: string): string => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const secs = (Date.now() - start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = tty ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
    return `${label} ${bar}${done}/${total} (${(frac * 100).toFixed(0)}%) ${secs.toFixed(1)}s elapsed, eta ${eta.toFixed(1)}s${info ? ` | ${info}` : ''}`;
  };
  return {
    tick(done, info) {
      const now = Date.now();
      if (tty) {
        if (now - lastTime < 100 && done < total) return;
        lastTime = now;
        stream.write(`\r${line(done, info)}\x1b[K`);
        return;
      }
      const pct = Math.floor((done / Math.max(1, total)) * 10);
      if (pct > lastPct && now - lastTime >= 2000) {
        lastPct = pct;
        lastTime = now;
        stream.write(`${line(done, info)}\n`);
      }
    },
    finish(info) {
      stream.write(`${tty ? '\r' : ''}${line(total, info)}${tty ? '\x1b[K' : ''}\n`);
    },
  };
}
