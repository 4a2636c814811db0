import type { Metrics } from '../metrics.ts';

/** A value made from (schema id, model version), remade only when they change between calls. */
function memo<T>(make: (schema: string, model: string | undefined) => T): (schema: string, model: string | undefined) => T {
  let lastSchema: string | undefined;
  let lastModel: string | undefined;
  let last: T | undefined;
  return (schema, model) => {
    if (last === undefined || schema !== lastSchema || model !== lastModel) {
      last = make(schema, model);
      lastSchema = schema;
      lastModel = model;
    }
    return last;
  };
}

interface Meter {
  readonly ok: (schema: string, model: string | undefined) => (n?: number) => void;
  readonly duration: (schema: string, model: string | undefined) => (seconds: number) => void;
}

/**
 * Metric handles per step of a topology, re-resolved only when a record's schema id or model
 * version differs from the previous record's: no label hashing per record on the hot path.
 */
export class StepMeters {
  private readonly meters = new Map<string, Meter>();

  constructor(
    private readonly topology: string,
    steps: readonly string[],
    private readonly metrics: Metrics,
  ) {
    for (const step of steps) {
      this.meters.set(step, {
        ok: memo((schema, model) => metrics.counter({ topology, step, schema_id: schema, outcome: 'ok', model_version: model })),
        duration: memo((schema, model) => metrics.observer({ topology, step, schema_id: schema, model_version: model })),
      });
    }
  }

  private meter(step: string): Meter {
    const m = this.meters.get(step);
    if (m === undefined) throw new Error(`no meter for step ${step} of ${this.topology}`);
    return m;
  }

  /** Count `n` values a step handled successfully. */
  ok(step: string, schema: string, model: string | undefined, n = 1): void {
    this.meter(step).ok(schema, model)(n);
  }

  /** Observe how long a step took for one value (all attempts). */
  duration(step: string, schema: string, model: string | undefined, seconds: number): void {
    this.meter(step).duration(schema, model)(seconds);
  }

  /** Count another outcome (retry, dropped, an error code…): rare, so labels are resolved per call. */
  count(step: string, outcome: string, schema?: string, model?: string): void {
    this.metrics.count({ topology: this.topology, step, outcome, ...(schema === undefined ? {} : { schema_id: schema }), model_version: model });
  }
}
