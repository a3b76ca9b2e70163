import * as tf from '@tensorflow/tfjs';
import { registerFastSegmentSum, registerFastWasmExp, registerFastWasmMatMul } from '@murmur/fl-core/kernels';
import { buildModel, decodeModelPayload, getFlatWeights, setFlatWeights, type ModelSpec } from '@murmur/fl-core/model';
import { createSeededRandom } from '@murmur/fl-core/random';
import { createVocabulary, SPECIAL_TOKENS, textToExamples, type ExampleSet, type Vocabulary } from '@murmur/fl-core/text';
import { trainLocal, type TrainingTargets } from '@murmur/fl-core/train';
import { describeIssues, type BackendMeasurement, type CalibrationRecord } from '../storage/schema';
import { ParticipationSession, UploadMeter } from './participation';
import { suggestionQuery, topSuggestions } from '../suggest/context';
import {
  BACKENDS,
  calibrationKey,
  toWorkerSchema,
  type BackendName,
  type CalibrationOptions,
  type FromWorker,
  type Kernels,
  type ToWorker,
  type WorkerErrorCode,
} from './protocol';

/** How the worker reaches tfjs backends; the browser one registers webgpu/webgl/wasm, tests use cpu. */
export interface BackendEnvironment {
  /** Registered backends among BACKENDS, in no particular order. */
  available(): BackendName[];
  /** Makes `name` tfjs's backend; resolves to an error message when it cannot. */
  activate(name: BackendName): Promise<string | null>;
  /** Threads the wasm backend runs with (1 without cross-origin isolation). */
  wasmThreads(): number;
  /**
   * The renderer's name when a GPU backend (webgpu, webgl) would run on a software rasterizer
   * (SwiftShader, llvmpipe), else null. Absent: nothing is known, every backend is measured.
   */
  softwareRenderer?(name: BackendName): Promise<string | null>;
}

/** GPU backends that a software rasterizer may stand in for. */
const GPU_BACKENDS: readonly BackendName[] = ['webgpu', 'webgl'];

export class WorkerError extends Error {
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Post = (message: FromWorker, transfer?: Transferable[]) => void;

interface LoadedModel {
  version: number;
  spec: ModelSpec;
  weights: Float32Array;
  vocabulary: Vocabulary;
  /**
   * Holds the global weights and answers suggestions (training uses a separate copy). Built on
   * first use, on the chosen backend: a model arrives before calibration picks one.
   */
  inference: tf.LayersModel | null;
}

/**
 * Uniform random token ids, specials excluded: throughput does not depend on which tokens are
 * trained on, and without <pad>/<bos> every position of a window is scored with targets 'every'.
 * With 'every', trainLocal keeps every contextLength-th row (the windows that tile a sentence;
 * without <eos> targets the whole set is one), so `windows` of them need T times the rows.
 */
function syntheticExamples(spec: ModelSpec, windows: number, targets: TrainingTargets): ExampleSet {
  const random = createSeededRandom(7);
  const count = targets === 'every' ? windows * spec.contextLength : windows;
  const word = () => SPECIAL_TOKENS.length + random.nextInt(spec.vocabularySize - SPECIAL_TOKENS.length);
  const contexts = Int32Array.from({ length: count * spec.contextLength }, word);
  return { contexts, targets: Int32Array.from({ length: count }, word), count, contextLength: spec.contextLength };
}

/** A benchmark's rates: windows (examples) per second, and the next tokens its loss scored per second. */
interface Throughput {
  measurement: BackendMeasurement;
  tokensPerSecond: number | null;
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`;
const rate = (m: BackendMeasurement) => (m.examplesPerSecond === null ? `failed (${m.error ?? 'unknown'})` : `${m.examplesPerSecond.toFixed(1)} ex/s`);

/** Why the winner won, in one line the privacy page and the logs show. */
export function explainChoice(winner: BackendMeasurement, measurements: readonly BackendMeasurement[]): string {
  const others = measurements.filter((m) => m.backend !== winner.backend);
  const best = winner.examplesPerSecond ?? 0;
  const parts = others.map((m) =>
    m.examplesPerSecond !== null && m.examplesPerSecond > 0
      ? `${m.backend} ${rate(m)} (${ratio(best, m.examplesPerSecond)} slower)`
      : `${m.backend} ${rate(m)}`,
  );
  return `fastest in calibration: ${winner.backend} ${rate(winner)}${parts.length ? `; ${parts.join(', ')}` : ''}`;
}

/**
 * Everything the training worker does, without the worker: it owns tfjs, the loaded global model,
 * the chosen backend and the participation session. `handle` takes raw messages (validated here) and
 * answers through `post`. Long operations run one at a time in arrival order; suggestions and
 * example derivation do not wait for them, and a newer suggestion request supersedes an older
 * one still waiting.
 */
export class TrainingEngine {
  private kernels: Kernels | null = null;
  private backend: BackendName | null = null;
  private model: LoadedModel | null = null;
  private trainer: { spec: ModelSpec; model: tf.LayersModel } | null = null;
  private exclusive: Promise<void> = Promise.resolve();
  private pendingSuggestion: Extract<ToWorker, { type: 'suggest' }> | null = null;
  private suggesting = false;
  private vocabularies = new Map<number, Vocabulary>();
  private session: ParticipationSession | null = null;
  /** The worker's upload count outlives sessions, so the page's ledger can account against it. */
  private readonly uploads = new UploadMeter();

  constructor(
    private readonly env: BackendEnvironment,
    /** What this device looks like to tfjs (see the worker's `hello`); keys calibrations. */
    private readonly deviceKey: string,
    private readonly post: Post,
  ) {}

  handle(raw: unknown): void {
    const parsed = toWorkerSchema.safeParse(raw);
    if (!parsed.success) {
      const id = typeof (raw as { id?: unknown })?.id === 'number' ? (raw as { id: number }).id : null;
      this.post({ type: 'error', id, code: 'BAD_MESSAGE', message: `worker: invalid message: ${describeIssues(parsed.error)}` });
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'suggest':
        this.pendingSuggestion = message;
        void this.drainSuggestions();
        return;
      case 'derive':
        void this.run(message.id, async () => this.derive(message));
        return;
      case 'participate':
        void this.run(message.id, async () => this.participate(message));
        return;
      case 'updateParticipation':
        this.session?.update({
          ...(message.eligibility !== undefined ? { eligibility: message.eligibility } : {}),
          ...(message.examples !== undefined ? { examples: message.examples } : {}),
          ...(message.online !== undefined ? { online: message.online } : {}),
        });
        if (message.upload !== undefined) this.uploads.setAllowance(message.upload);
        return;
      case 'stopParticipating':
        this.session?.stop();
        this.session = null;
        return;
      case 'configure':
      case 'loadModel':
      case 'calibrate':
      case 'benchmark':
        this.exclusive = this.exclusive.then(() => this.run(message.id, () => this.dispatchExclusive(message)));
        return;
      default: {
        const unknown: never = message;
        throw new Error(`unhandled message ${JSON.stringify(unknown)}`);
      }
    }
  }

  private async run(id: number, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      const code: WorkerErrorCode = error instanceof WorkerError ? error.code : 'INTERNAL';
      this.post({ type: 'error', id, code, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private async dispatchExclusive(message: Extract<ToWorker, { type: 'configure' | 'loadModel' | 'calibrate' | 'benchmark' }>): Promise<void> {
    switch (message.type) {
      case 'configure':
        this.useKernels(message.kernels);
        this.post({ type: 'configured', id: message.id, kernels: message.kernels });
        return;
      case 'loadModel':
        return this.loadModel(message.id, message.payload);
      case 'calibrate':
        return this.calibrate(message.id, message.spec, message.options, message.cached);
      case 'benchmark': {
        this.useKernels(this.kernels ?? 'direct');
        const targets = message.targets ?? 'last';
        const { measurement, tokensPerSecond } = await this.throughput(
          message.backend,
          message.spec,
          { batches: message.batches, batchSize: message.batchSize, budgetMsPerBackend: 600_000 },
          targets,
          message.sampledSoftmax,
        );
        this.post({
          type: 'benchmarked',
          id: message.id,
          measurement,
          tokensPerSecond,
          targets,
          wasmThreads: message.backend === 'wasm' ? this.env.wasmThreads() : 0,
        });
        return;
      }
      default: {
        const unknown: never = message;
        throw new Error(`unhandled message ${JSON.stringify(unknown)}`);
      }
    }
  }

  private useKernels(kernels: Kernels): void {
    if (this.kernels !== null && this.kernels !== kernels) {
      throw new WorkerError('KERNELS_FIXED', `worker: kernels are already '${this.kernels}'; start a new worker for '${kernels}'`);
    }
    if (this.kernels === null && kernels === 'direct') {
      registerFastSegmentSum();
      registerFastWasmMatMul();
      registerFastWasmExp();
    }
    this.kernels = kernels;
  }

  private async activate(name: BackendName): Promise<void> {
    const error = await this.env.activate(name);
    if (error !== null) throw new WorkerError('NO_BACKEND', `backend ${name}: ${error}`);
    this.backend = name;
  }

  private async measure(backend: BackendName, spec: ModelSpec, options: Omit<CalibrationOptions, 'candidates'>): Promise<BackendMeasurement> {
    return (await this.throughput(backend, spec, options, 'last')).measurement;
  }

  private async throughput(
    backend: BackendName,
    spec: ModelSpec,
    options: Omit<CalibrationOptions, 'candidates'>,
    targets: TrainingTargets,
    sampledSoftmax?: number,
  ): Promise<Throughput> {
    const failed = (error: unknown): Throughput => ({
      measurement: {
        backend,
        examplesPerSecond: null,
        error: (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 500) ?? 'failed',
      },
      tokensPerSecond: null,
    });
    if (!this.env.available().includes(backend)) return failed('not available in this browser');
    const activation = await this.env.activate(backend);
    if (activation !== null) return failed(activation);
    let network: tf.LayersModel | null = null;
    try {
      network = buildModel(spec, { seed: 1 });
      const weights = getFlatWeights(network);
      const { batchSize, batches, budgetMsPerBackend } = options;
      const windows = batchSize * (batches + 1);
      const examples = syntheticExamples(spec, windows, targets);
      // One run, timed from the end of its first batch (which compiles shaders and kernels and
      // allocates). One run, not a warm-up run and a timed one: with tfjs-backend-webgpu 4.22 on
      // Chromium's SwiftShader adapter the device is lost after a training run ends.
      const batchEnds: number[] = [];
      const result = await trainLocal(
        network,
        weights,
        examples,
        {
          epochs: 1,
          batchSize,
          learningRate: 0.05,
          maxExamples: windows,
          timeBudgetMs: budgetMsPerBackend,
          targets,
          ...(sampledSoftmax !== undefined ? { sampledSoftmax } : {}),
        },
        { onBatch: () => batchEnds.push(performance.now()) },
      );
      const first = batchEnds[0] as number;
      const last = batchEnds[batchEnds.length - 1] as number;
      const examplesPerSecond = batchEnds.length > 1 ? ((batchEnds.length - 1) * batchSize) / ((last - first) / 1000) : result.metrics.examplesPerSecond;
      // trainLocal counts the tokens its loss scored; every synthetic window scores the same number.
      const { tokensProcessed, examplesProcessed } = result.metrics;
      const tokensPerSecond = examplesProcessed > 0 ? (examplesPerSecond * tokensProcessed) / examplesProcessed : 0;
      return {
        measurement: { backend, examplesPerSecond: Math.round(examplesPerSecond * 10) / 10, error: null },
        tokensPerSecond: Math.round(tokensPerSecond * 10) / 10,
      };
    } catch (error) {
      return failed(error);
    } finally {
      network?.dispose();
    }
  }

  private async calibrate(id: number, spec: ModelSpec, options: CalibrationOptions, cached: CalibrationRecord | null): Promise<void> {
    this.useKernels(this.kernels ?? 'direct');
    const key = calibrationKey(this.deviceKey, spec);
    if (cached !== null && cached.key === key && this.env.available().includes(cached.backend) && (await this.env.activate(cached.backend)) === null) {
      this.backend = cached.backend;
      this.rebuildForBackend();
      this.post({ type: 'calibrated', id, result: { ...cached, fromCache: true } });
      return;
    }
    const measurements: BackendMeasurement[] = [];
    const candidates = BACKENDS.filter((b) => options.candidates.includes(b));
    // A GPU emulated on the CPU cores wasm would use never beats wasm there (measured: webgl and
    // webgpu on SwiftShader train the reference model 20× and 73× slower, docs/web-client.md), and
    // timing one costs its shader compilation plus a batch: a minute for the CIFG model. Skipped
    // while a CPU-side backend remains to be measured.
    const cpuSide = candidates.some((b) => !GPU_BACKENDS.includes(b) && this.env.available().includes(b));
    for (const backend of candidates) {
      const software =
        cpuSide && GPU_BACKENDS.includes(backend) && this.env.available().includes(backend) ? ((await this.env.softwareRenderer?.(backend)) ?? null) : null;
      if (software !== null) {
        measurements.push({
          backend,
          examplesPerSecond: null,
          error: `software renderer (${software.slice(0, 200)}): not measured, slower than wasm on the same cores`,
        });
        continue;
      }
      measurements.push(await this.measure(backend, spec, options));
    }
    const working = measurements.filter((m) => m.examplesPerSecond !== null);
    const winner = working.reduce<BackendMeasurement | null>(
      (best, m) => (best === null || (m.examplesPerSecond ?? 0) > (best.examplesPerSecond ?? 0) ? m : best),
      null,
    );
    if (winner === null) {
      throw new WorkerError('NO_BACKEND', `no backend could train: ${measurements.map((m) => `${m.backend}: ${m.error}`).join('; ')}`);
    }
    await this.activate(winner.backend);
    this.rebuildForBackend();
    const record: CalibrationRecord = {
      key,
      backend: winner.backend,
      reason: explainChoice(winner, measurements),
      measurements,
      wasmThreads: winner.backend === 'wasm' ? this.env.wasmThreads() : 0,
      measuredAt: Date.now(),
    };
    this.post({ type: 'calibrated', id, result: { ...record, fromCache: false } });
  }

  /** Models hold variables on the backend they were built on; after switching, rebuild them there. */
  private rebuildForBackend(): void {
    this.trainer?.model.dispose();
    this.trainer = null;
    if (this.model) {
      this.model.inference?.dispose();
      this.model.inference = null;
    }
  }

  private buildWithWeights(spec: ModelSpec, weights: Float32Array): tf.LayersModel {
    const network = buildModel(spec);
    setFlatWeights(network, weights);
    return network;
  }

  private vocabularyFor(size: number): Vocabulary {
    let vocabulary = this.vocabularies.get(size);
    if (!vocabulary) {
      vocabulary = createVocabulary({ size });
      this.vocabularies.set(size, vocabulary);
    }
    return vocabulary;
  }

  private async loadModel(id: number, payload: Uint8Array): Promise<void> {
    let decoded;
    try {
      decoded = decodeModelPayload(payload);
    } catch (error) {
      throw new WorkerError('BAD_MODEL_PAYLOAD', (error as Error).message);
    }
    this.model?.inference?.dispose();
    this.model = {
      version: decoded.version,
      spec: decoded.spec,
      weights: decoded.weights,
      vocabulary: this.vocabularyFor(decoded.spec.vocabularySize),
      inference: null,
    };
    this.post({
      type: 'modelLoaded',
      id,
      version: decoded.version,
      hash: decoded.hash,
      parameters: decoded.weights.length,
      spec: decoded.spec,
      vocabularyFingerprint: this.model.vocabulary.fingerprint,
    });
  }

  private async derive(message: Extract<ToWorker, { type: 'derive' }>): Promise<void> {
    const vocabulary = this.vocabularyFor(message.vocabularySize);
    const examples = textToExamples([message.body], vocabulary, message.contextLength);
    this.post({ type: 'derived', id: message.id, textId: message.textId, vocabularyFingerprint: vocabulary.fingerprint, examples }, [
      examples.contexts.buffer,
      examples.targets.buffer,
    ]);
  }

  private async drainSuggestions(): Promise<void> {
    if (this.suggesting) return;
    this.suggesting = true;
    try {
      while (this.pendingSuggestion !== null) {
        const request = this.pendingSuggestion;
        this.pendingSuggestion = null;
        await this.run(request.id, () => this.suggest(request));
      }
    } finally {
      this.suggesting = false;
    }
  }

  private async suggest(request: Extract<ToWorker, { type: 'suggest' }>): Promise<void> {
    const loaded = this.model;
    if (loaded === null) throw new WorkerError('NO_MODEL', 'worker: no global model loaded yet');
    if (this.backend === null) throw new WorkerError('NO_BACKEND', 'worker: no backend chosen yet');
    loaded.inference ??= this.buildWithWeights(loaded.spec, loaded.weights);
    const inference = loaded.inference;
    const query = suggestionQuery(request.text, loaded.vocabulary, loaded.spec.contextLength);
    const logits = tf.tidy(() => (inference.predict(tf.tensor2d(query.context, [1, query.context.length], 'int32')) as tf.Tensor).squeeze());
    const values = (await logits.data()) as Float32Array;
    logits.dispose();
    this.post({
      type: 'suggestions',
      id: request.id,
      words: topSuggestions(values, loaded.vocabulary, query),
      completing: query.prefix !== '',
      modelVersion: loaded.version,
    });
  }

  private async participate(message: Extract<ToWorker, { type: 'participate' }>): Promise<void> {
    if (this.backend === null) throw new WorkerError('NO_BACKEND', 'worker: calibrate (choose a backend) before participating');
    this.session?.stop();
    this.uploads.setAllowance(message.upload);
    this.session = new ParticipationSession(
      message.origin,
      message.identity,
      { eligibility: message.eligibility, examples: message.examples },
      {
        trainerFor: (plan) => this.trainerFor(plan.model.spec),
        backendName: () => this.backend ?? 'unknown',
      },
      (event) => this.post({ type: 'participation', event }),
      this.uploads,
      message.routingBucket,
    );
    this.post({ type: 'participating', id: message.id });
  }

  /** The training model for `spec` on the chosen backend, reused while the spec stays the same. */
  private trainerFor(spec: ModelSpec): tf.LayersModel {
    if (this.trainer && JSON.stringify(this.trainer.spec) === JSON.stringify(spec)) return this.trainer.model;
    this.trainer?.model.dispose();
    this.trainer = { spec, model: buildModel(spec) };
    return this.trainer.model;
  }
}
