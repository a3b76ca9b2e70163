import { MODULAR_WASM_BASE64 } from './modular-wasm';

/** Words of 1, 2 or 4 bytes, each < 2^k: an encoded input, a masked input or a mask stream. */
export type ModularWords = Uint8Array | Uint16Array | Uint32Array;
export type ModularSign = 1 | -1;

/** Source words are copied into this much of a vector's WebAssembly memory at a time. */
const SCRATCH_BYTES = 1 << 20;
const PAGE_BYTES = 1 << 16;

interface KernelExports {
  add8(acc: number, src: number, count: number, mask: number): void;
  sub8(acc: number, src: number, count: number, mask: number): void;
  add16(acc: number, src: number, count: number, mask: number): void;
  sub16(acc: number, src: number, count: number, mask: number): void;
  add32(acc: number, src: number, count: number, mask: number): void;
  sub32(acc: number, src: number, count: number, mask: number): void;
}

/** A vector made by createWordVector: its memory, kernels and scratch area. */
interface Resident {
  kernels: KernelExports;
  bytes: Uint8Array;
  scratchOffset: number;
}

const resident = new WeakMap<ArrayBufferLike, Resident>();
let compiled: WebAssembly.Module | null | undefined;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The SIMD kernels' module, or null where this engine lacks WebAssembly or its SIMD proposal. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    compiled = null;
    if (typeof WebAssembly === 'object') {
      const bytes = decodeBase64(MODULAR_WASM_BASE64);
      // The module is ~1.3 KB: synchronous compilation is allowed even on a browser's main thread.
      if (WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
    }
  }
  return compiled;
}

/** Whether addWordsMod runs the WebAssembly SIMD kernels here (else plain loops, same results). */
export function modularKernelsAvailable(): boolean {
  return kernelModule() !== null;
}

/**
 * A zeroed Uint32Array of `length` words for accumulating mod 2^k. Where WebAssembly SIMD exists
 * it lives in a WebAssembly memory of its own (fixed size, so the view never detaches) and
 * addWordsMod updates it in place with SIMD kernels; otherwise it is an ordinary Uint32Array.
 * Either way it is plain data: a copy of it is a valid (slower) target.
 */
export function createWordVector(length: number): Uint32Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`createWordVector: length must be a non-negative integer, got ${length}`);
  const module = kernelModule();
  if (!module) return new Uint32Array(length);
  const scratchOffset = Math.ceil((4 * length) / 16) * 16;
  const pages = Math.max(1, Math.ceil((scratchOffset + SCRATCH_BYTES) / PAGE_BYTES));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  resident.set(memory.buffer, { kernels: instance.exports as unknown as KernelExports, bytes: new Uint8Array(memory.buffer), scratchOffset });
  return new Uint32Array(memory.buffer, 0, length);
}

function maskOf(modulusBits: number): number {
  if (!Number.isInteger(modulusBits) || modulusBits < 1 || modulusBits > 32) {
    throw new RangeError(`addWordsMod: modulusBits must be an integer in [1, 32], got ${modulusBits}`);
  }
  // For k = 32 the mask is 0xffffffff: `& mask` yields an int32 that the Uint32Array store maps
  // back to [0, 2^32); for k < 32 it is the plain residue.
  return modulusBits === 32 ? 0xffffffff : 2 ** modulusBits - 1;
}

/**
 * target[offset + i] ← (target[offset + i] ± source[i]) mod 2^k, in place, for every i < source.length.
 * Words of `source` must already be < 2^k. SIMD when `target` came from createWordVector, plain
 * loops otherwise; both give identical words.
 */
export function addWordsMod(target: Uint32Array, offset: number, source: ModularWords, sign: ModularSign, modulusBits: number): void {
  const mask = maskOf(modulusBits);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + source.length > target.length) {
    throw new RangeError(`addWordsMod: ${source.length} words at offset ${offset} do not fit a target of ${target.length}`);
  }
  const home = resident.get(target.buffer);
  if (home) addResident(home, target, offset, source, sign, mask);
  else addPlain(target, offset, source, sign, mask);
}

function addResident(home: Resident, target: Uint32Array, offset: number, source: ModularWords, sign: ModularSign, mask: number): void {
  const width = source.BYTES_PER_ELEMENT as 1 | 2 | 4;
  const kernel = home.kernels[`${sign === 1 ? 'add' : 'sub'}${(8 * width) as 8 | 16 | 32}`];
  const sourceBytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  const wordsPerCopy = SCRATCH_BYTES / width;
  for (let first = 0; first < source.length; first += wordsPerCopy) {
    const count = Math.min(wordsPerCopy, source.length - first);
    home.bytes.set(sourceBytes.subarray(first * width, (first + count) * width), home.scratchOffset);
    kernel(target.byteOffset + 4 * (offset + first), home.scratchOffset, count, mask | 0);
  }
}

// The fallback and the reference for tests. One loop per (width, sign) keeps each monomorphic,
// which V8 compiles to tight code.
function add8(t: Uint32Array, o: number, m: Uint8Array, mask: number): void {
  for (let i = 0; i < m.length; i++) t[o + i] = ((t[o + i] as number) + (m[i] as number)) & mask;
}
function sub8(t: Uint32Array, o: number, m: Uint8Array, mask: number): void {
  for (let i = 0; i < m.length; i++) t[o + i] = ((t[o + i] as number) - (m[i] as number)) & mask;
}
function add16(t: Uint32Array, o: number, m: Uint16Array, mask: number): void {
  for (let i = 0; i < m.length; i++) t[o + i] = ((t[o + i] as number) + (m[i] as number)) & mask;
}
function sub16(t: Uint32Array, o: number, m: Uint16Array, mask: number): void {
  for (let i = 0; i < m.length; i++) t[o + i] = ((t[o + i] as number) - (m[i] as number)) & mask;
}
function add32(t: Uint32Array, o: number, m: Uint32Array, mask: number): void {
  for (let i = 0; i < m.length; i++) t[o + i] = ((t[o + i] as number) + (m[i] as number)) & mask;
}
function sub32(t: Uint32Array, o: number, m: Uint32Array, mask: number): void {
  for (let i = 0; i < m.length; i++) t[o + i] = ((t[o + i] as number) - (m[i] as number)) & mask;
}

function addPlain(target: Uint32Array, offset: number, source: ModularWords, sign: ModularSign, mask: number): void {
  if (source instanceof Uint32Array) (sign === 1 ? add32 : sub32)(target, offset, source, mask);
  else if (source instanceof Uint16Array) (sign === 1 ? add16 : sub16)(target, offset, source, mask);
  else (sign === 1 ? add8 : sub8)(target, offset, source, mask);
}
