/**
 * The metrics of caption serving, on the process's registry with captionflow's label set
 * (topology `serving`): requests by outcome and model version, latency, queue time, batch size,
 * inference time, loaded models and load failures.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { LABELS, type Metrics } from '../../runtime/metrics.ts';

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SIZES = [1, 2, 4, 8, 16, 32, 64];

type Label = (typeof LABELS)[number];

function labels(step: string, modelVersion = '', outcome = ''): Record<Label, string> {
  return { topology: 'serving', step, schema_id: '', model_version: modelVersion, outcome };
}

/** The serving metrics of one process. */
export class ServingMetrics {
  private readonly requests: Counter<Label>;
  private readonly images: Counter<Label>;
  private readonly latency: Histogram<Label>;
  private readonly queue: Histogram<Label>;
  private readonly batch: Histogram<Label>;
  private readonly inference: Histogram<Label>;
  private readonly loaded: Gauge<Label>;
  private readonly loadFailures: Counter<Label>;

  constructor(metrics: Metrics, prefix = 'captionflow_') {
    const registers = [metrics.registry];
    const common = { labelNames: LABELS, registers };
    this.requests = new Counter({
      name: `${prefix}serving_requests_total`,
      help: 'Caption requests, by outcome (ok, partial, or an error code) and model version.',
      ...common,
    });
    this.images = new Counter({
      name: `${prefix}serving_images_total`,
      help: 'Images captioned or refused, by outcome and model version.',
      ...common,
    });
    this.latency = new Histogram({
      name: `${prefix}serving_request_duration_seconds`,
      help: 'Time from a caption request to its answer.',
      buckets: SECONDS,
      ...common,
    });
    this.queue = new Histogram({
      name: `${prefix}serving_queue_seconds`,
      help: 'Time an image waited in the batching queue.',
      buckets: SECONDS,
      ...common,
    });
    this.batch = new Histogram({
      name: `${prefix}serving_batch_size`,
      help: 'Images per batch sent to a worker.',
      buckets: SIZES,
      ...common,
    });
    this.inference = new Histogram({
      name: `${prefix}serving_inference_seconds`,
      help: 'Time a worker spent on a batch (preprocess and inference).',
      buckets: SECONDS,
      ...common,
    });
    this.loaded = new Gauge({
      name: `${prefix}serving_models_loaded`,
      help: 'Whether a model version is the one serving an alias (1) or not (0).',
      ...common,
    });
    this.loadFailures = new Counter({
      name: `${prefix}serving_model_load_failures_total`,
      help: 'Model versions that failed to load or warm up (the current model kept serving).',
      ...common,
    });
  }

  request(outcome: string, modelVersion: string, seconds: number): void {
    this.requests.inc(labels('request', modelVersion, outcome));
    this.latency.observe(labels('request', modelVersion, outcome), seconds);
  }

  image(outcome: string, modelVersion: string, queueSeconds?: number): void {
    this.images.inc(labels('image', modelVersion, outcome));
    if (queueSeconds !== undefined) this.queue.observe(labels('queue', modelVersion), queueSeconds);
  }

  batchRan(modelVersion: string, size: number, seconds: number): void {
    this.batch.observe(labels('batch', modelVersion), size);
    this.inference.observe(labels('inference', modelVersion), seconds);
  }

  serving(alias: string, modelVersion: string, on: boolean): void {
    this.loaded.set(labels(`alias:${alias}`, modelVersion), on ? 1 : 0);
  }

  loadFailed(modelVersion: string, code: string): void {
    this.loadFailures.inc(labels('load', modelVersion, code));
  }
}
