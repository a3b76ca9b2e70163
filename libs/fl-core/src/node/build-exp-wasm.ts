/**
 * Writes src/kernels/exp-wasm.ts: a WebAssembly SIMD exp over float32 arrays that works on
 * tfjs-backend-wasm's own heap (the module imports the backend's memory), compiled from the text
 * format below.
 *
 * Why: a softmax over the 10,004-word vocabulary at every position of a window puts three Exp
 * kernels over [batch, T, 10,004] floats into each training step (tfjs's softmaxCrossEntropy: the
 * log-sum-exp, and exp(log p) in each of its two gradients). tfjs-backend-wasm 4.22 runs Exp as a
 * scalar std::exp loop: profiled on the CIFG model in Node (batch 32, targets 'every', wasm, fl-core
 * kernels), Exp was 102 of 419 ms per step, a quarter of it. Four lanes at a time with a polynomial
 * are 3–4× faster per call (the loop alone more; allocating the output is the rest), to 2 ulp.
 *
 * The approximation is Cephes' expf (S. L. Moshier): n = round(x·log2 e), r = x − n·ln 2 in two
 * parts (Cody–Waite), exp(r) ≈ 1 + r + r²·P(r) with a degree-5 minimax P on |r| ≤ ln(2)/2, times
 * 2^n built in the exponent bits (as 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), so n = 128 does not overflow a factor).
 * Relative error ≤ 2 ulp on the normal range; x > 88.72… gives +∞, x < −87.34 gives 0 (expf gives
 * subnormals there: below 1.2·10⁻³⁸, nothing a softmax can tell from 0); NaN stays NaN.
 *
 * Run with `npm run build:wasm -w @murmur/fl-core`; a test checks the shipped file equals this
 * script's output.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import initWabt from 'wabt';

export const EXP_WASM_FILE = fileURLToPath(new URL('../kernels/exp-wasm.ts', import.meta.url));

/** Above this expf overflows to +∞ (ln of the largest float, rounded down to a float). */
export const EXP_MAX_INPUT = 88.72283935546875;
/** Below this expf's result is subnormal; the kernel gives 0 there (ln of the smallest normal float). */
export const EXP_MIN_INPUT = -87.33654022216797;

const splat = (value: number | string) => `(v128.const f32x4 ${value} ${value} ${value} ${value})`;

/** Cephes expf: P(r) coefficients, highest degree first. */
const POLYNOMIAL = ['1.9875691500e-4', '1.3981999507e-3', '8.3334519073e-3', '4.1665795894e-2', '1.6666665459e-1', '5.0000001201e-1'];

/** Statements that set local $y to exp of the four lanes of local $v (locals $r $n $i $h $y). */
function expLanes(): string {
  const horner = POLYNOMIAL.slice(1)
    .map((c) => `      (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) ${splat(c)}))`)
    .join('\n');
  const twoTo = (exponent: string) => `(i32x4.shl (i32x4.add ${exponent} (v128.const i32x4 127 127 127 127)) (i32.const 23))`;
  return `      ;; clamp into the normal range (min/max keep NaN), split x = n·ln 2 + r
      (local.set $r (f32x4.max (f32x4.min (local.get $v) ${splat(EXP_MAX_INPUT)}) ${splat(EXP_MIN_INPUT)}))
      (local.set $n (f32x4.nearest (f32x4.mul (local.get $r) ${splat('1.44269504088896341')})))
      (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) ${splat('0.693359375')})))
      (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) ${splat('-2.12194440e-4')})))
      ;; exp(r) = 1 + r + r²·P(r)
      (local.set $y ${splat(POLYNOMIAL[0] as string)})
${horner}
      (local.set $y (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $y) (local.get $r)) (local.get $r)) (local.get $r)) ${splat(1)}))
      ;; times 2^n as 2^h · 2^(n−h), h = n >> 1: each factor a normal float
      (local.set $i (i32x4.trunc_sat_f32x4_s (local.get $n)))
      (local.set $h (i32x4.shr_s (local.get $i) (i32.const 1)))
      (local.set $y (f32x4.mul (local.get $y) ${twoTo('(local.get $h)')}))
      (local.set $y (f32x4.mul (local.get $y) ${twoTo('(i32x4.sub (local.get $i) (local.get $h))')}))
      ;; outside the range: +inf above, 0 below
      (local.set $y (v128.bitselect ${splat('inf')} (local.get $y) (f32x4.gt (local.get $v) ${splat(EXP_MAX_INPUT)})))
      (local.set $y (v128.andnot (local.get $y) (f32x4.lt (local.get $v) ${splat(EXP_MIN_INPUT)})))`;
}

/**
 * `exp_f32(x, out, count)`: out[i] ← exp(x[i]) for i < count, x and out byte addresses of float32
 * arrays in the imported memory (they may be the same array). Four lanes per step, then the tail
 * (count mod 4) one lane at a time through the same code.
 */
export function expWat(): string {
  return `(module
  (import "env" "memory" (memory 0))
  (func (export "exp_f32") (param $x i32) (param $out i32) (param $count i32)
    (local $end i32) (local $v v128) (local $r v128) (local $n v128) (local $i v128) (local $h v128) (local $y v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (block $vector_done (loop $vector
      (br_if $vector_done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
${expLanes()}
      (v128.store (local.get $out) (local.get $y))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $vector)))
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $count) (i32.const 3)) (i32.const 2))))
    (block $scalar_done (loop $scalar
      (br_if $scalar_done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (f32x4.splat (f32.load (local.get $x))))
${expLanes()}
      (f32.store (local.get $out) (f32x4.extract_lane 0 (local.get $y)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $scalar))))
)
`;
}

export async function buildExpWasmFile(): Promise<string> {
  const wabt = await initWabt();
  const parsed = wabt.parseWat('exp.wat', expWat(), { simd: true });
  try {
    const { buffer } = parsed.toBinary({});
    const base64 = Buffer.from(buffer).toString('base64');
    const lines = base64.match(/.{1,96}/g) ?? [];
    return (
      '// Generated by src/node/build-exp-wasm.ts (npm run build:wasm -w @murmur/fl-core); do not edit.\n' +
      "/** The SIMD exp kernel as a base64 WebAssembly module (imports env.memory: tfjs-backend-wasm's heap). */\n" +
      `export const EXP_WASM_BASE64 =\n${lines.map((line) => `  '${line}'`).join(' +\n')};\n`
    );
  } finally {
    parsed.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(EXP_WASM_FILE, await buildExpWasmFile());
  console.log(`wrote ${EXP_WASM_FILE}`);
}
