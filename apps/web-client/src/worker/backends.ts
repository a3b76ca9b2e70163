import * as tf from '@tensorflow/tfjs';
// Side-effect imports register the backends with tfjs; the cpu and webgl ones come with @tensorflow/tfjs.
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { BACKENDS, type BackendName } from './protocol';
import type { BackendEnvironment } from './engine';

// Vite fingerprints the binaries and serves them from our own origin (no CDN), so the service
// worker precaches them.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlainUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimdUrl,
});
// Always the single-threaded SIMD binary, even on a cross-origin-isolated page. Measured here
// (docs/web-client.md): threaded SIMD trained the reference model at 156.6 ex/s with XNNPACK
// reporting 1 thread, against 182.9 ex/s for plain SIMD; and its pthreads re-evaluate the emscripten
// factory's source text (`factory.toString()` in tfjs-backend-wasm's init), which a minified
// bundle breaks ("ReferenceError: e is not defined" in every pthread).
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

/** A backend that never finishes initializing (a wedged GPU process) must not stall calibration. */
const ACTIVATION_TIMEOUT_MS = 30_000;

interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  description?: string;
}
interface NavigatorWithGpu {
  gpu?: { requestAdapter(): Promise<{ info?: GpuAdapterInfo } | null> };
}

/** "vendor/architecture" of the WebGPU adapter, e.g. "google/swiftshader" for the software one. */
export async function webgpuAdapterName(): Promise<string | null> {
  const gpu = (navigator as unknown as NavigatorWithGpu).gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    return [info.vendor, info.architecture].filter((part) => part !== undefined && part !== '').join('/') || 'unknown';
  } catch {
    return null;
  }
}

/** Renderer names of software rasterizers: Chromium's SwiftShader, Mesa's llvmpipe/softpipe, Windows' WARP. */
export function isSoftwareRenderer(name: string): boolean {
  return /swiftshader|llvmpipe|softpipe|software|basic render driver|microsoft basic/i.test(name);
}

/** The WebGL renderer string, e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) …))", or null. */
export function webglRendererName(): string | null {
  if (typeof OffscreenCanvas === 'undefined') return null;
  try {
    const gl = (new OffscreenCanvas(1, 1).getContext('webgl2') ?? new OffscreenCanvas(1, 1).getContext('webgl')) as WebGLRenderingContext | null;
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) as unknown;
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return typeof renderer === 'string' && renderer !== '' ? renderer : null;
  } catch {
    return null;
  }
}

let renderers: { webgpu: string | null; webgl: string | null } | null = null;

export const browserBackends: BackendEnvironment = {
  available: () => BACKENDS.filter((name) => tf.findBackendFactory(name) !== undefined || tf.findBackend(name) !== undefined),
  async activate(name: BackendName): Promise<string | null> {
    if (tf.getBackend() === name) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const ok = await Promise.race([
        tf.setBackend(name),
        new Promise<boolean>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not initialize within ${ACTIVATION_TIMEOUT_MS / 1000} s`)), ACTIVATION_TIMEOUT_MS);
        }),
      ]);
      if (!ok) return 'failed to initialize';
      await tf.ready();
      return null;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(timer);
    }
  },
  wasmThreads: () => (tf.findBackend('wasm') ? getThreadsCount() : 0),
  async softwareRenderer(name: BackendName): Promise<string | null> {
    renderers ??= { webgpu: await webgpuAdapterName(), webgl: webglRendererName() };
    const renderer = name === 'webgpu' ? renderers.webgpu : name === 'webgl' ? renderers.webgl : null;
    return renderer !== null && isSoftwareRenderer(renderer) ? renderer : null;
  },
};
