/**
 * Named float32 tensors: what checkpoints store (safetensors) and what resumes exactly.
 *
 * Layouts follow PyTorch's `state_dict` (an `nn.Linear` weight is `[out, in]`), so a checkpoint
 * written here loads into the PyTorch reference of `bench/reference/train_step.py` unchanged.
 */
export type Tensors = Record<string, { shape: number[]; data: Float32Array }>;

/** Deep copy (the data arrays are copied, so the result never aliases engine read-backs). */
export function cloneTensors(t: Tensors): Tensors {
  const out: Tensors = {};
  for (const [k, v] of Object.entries(t)) out[k] = { shape: [...v.shape], data: v.data.slice() };
  return out;
}

/** Zeros of the same names and shapes (Adam's moments start at zero). */
export function zerosLike(t: Tensors): Tensors {
  const out: Tensors = {};
  for (const [k, v] of Object.entries(t)) out[k] = { shape: [...v.shape], data: new Float32Array(v.data.length) };
  return out;
}

/** Throw a clear error unless `t` holds exactly the tensors of `specs`, with those shapes. */
export function checkTensors(t: Tensors, specs: { name: string; shape: number[] }[], what: string): void {
  const names = new Set(Object.keys(t));
  for (const s of specs) {
    const v = t[s.name];
    if (v === undefined) throw new RangeError(`${what}: missing tensor '${s.name}'`);
    if (v.shape.length !== s.shape.length || v.shape.some((d, i) => d !== s.shape[i])) {
      throw new RangeError(`${what}: tensor '${s.name}' has shape [${v.shape.join(', ')}], expected [${s.shape.join(', ')}]`);
    }
    const size = s.shape.reduce((a, b) => a * b, 1);
    if (!(v.data instanceof Float32Array) || v.data.length !== size) {
      throw new RangeError(`${what}: tensor '${s.name}' must hold ${size} float32 values, got ${v.data.length}`);
    }
    names.delete(s.name);
  }
  if (names.size > 0) throw new RangeError(`${what}: unexpected tensor(s) ${[...names].map((n) => `'${n}'`).join(', ')}`);
}
