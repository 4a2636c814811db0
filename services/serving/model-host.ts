/**
 * Which model answers each alias, and hot swaps between versions. A swap loads the new version,
 * warms it up on the worker threads (a caption of a blank image), and only then points the alias
 * at it: requests queued before the swap finish on the old version, whose sessions each worker
 * closes once idle (caption-worker.ts, `graceMs`). A version that fails to load or warm up leaves
 * the current one serving; the failure is logged once per version and counted every time.
 * Swaps are serialized, so two promotions in quick succession end on the later one.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { ModelSource, ServedModel } from './model-source.ts';
import { ServingErrorCodes } from './serving-errors.ts';
import type { ServingMetrics } from './serving-metrics.ts';

/** What a request asks for: a pinned version, or an alias (the host's default alias when neither). */
export interface ModelChoice {
  readonly alias?: string;
  readonly version?: string;
}

/** Options of a {@link ModelHost}. */
export interface ModelHostOptions {
  readonly source: ModelSource;
  /** Load `model` on the workers and run it once; throws when it cannot serve. */
  readonly warmUp: (model: ServedModel) => Promise<void>;
  readonly logger: Logger;
  readonly metrics: ServingMetrics;
  /** The alias requests get when they name none (`champion`). */
  readonly defaultAlias: string;
  /** Pinned versions kept loaded at once (least recently used leaves first). */
  readonly pinnedCache?: number;
  /**
   * Canary: `share` (0..1) of the requests that name no model go to `alias` (the challenger),
   * the rest to the default alias. Deterministic, not random: request n goes to the canary when
   * floor((n + 1) * share) > floor(n * share), so any run of requests holds the share to within
   * one. With no model behind the canary alias those requests stay on the default alias.
   */
  readonly canary?: { readonly alias: string; readonly share: number };
}

/** The models being served. */
export class ModelHost {
  private readonly current = new Map<string, ServedModel>();
  private readonly pinned = new Map<string, Promise<ServedModel | null>>();
  private readonly loggedFailures = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();

  private requests = 0;

  constructor(private readonly options: ModelHostOptions) {
    const share = options.canary?.share;
    if (share !== undefined && !(share >= 0 && share <= 1))
      throw new TypeError(`canary share must be in 0..1, got ${share}`);
  }

  /** The alias of the next request that names no model: the canary's for its share of them. */
  private aliasOfNext(): string {
    const canary = this.options.canary;
    if (canary === undefined || canary.share === 0) return this.options.defaultAlias;
    const n = this.requests++;
    return Math.floor((n + 1) * canary.share) > Math.floor(n * canary.share)
      ? canary.alias
      : this.options.defaultAlias;
  }

  /** The alias used when a request names none. */
  get defaultAlias(): string {
    return this.options.defaultAlias;
  }

  /** The version serving `alias` now, if any. */
  versionOf(alias: string = this.options.defaultAlias): string | undefined {
    return this.current.get(alias)?.version;
  }

  /** Point `alias` at the version the registry names for it now (start-up, or an alias first asked for). */
  async refresh(alias: string = this.options.defaultAlias): Promise<boolean> {
    const version = await this.options.source.versionOf(alias);
    return version === null ? false : this.swap(alias, version);
  }

  /**
   * Load, warm up and serve `version` under `alias`. Resolves true once it serves (at once when it
   * already does), false when it failed and the current version goes on serving.
   */
  swap(alias: string, version: string): Promise<boolean> {
    const next = this.chain.then(() => this.doSwap(alias, version));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async doSwap(alias: string, version: string): Promise<boolean> {
    const before = this.current.get(alias);
    if (before?.version === version) return true;
    const started = performance.now();
    try {
      const model = await this.options.source.load(version);
      if (model === null)
        throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `model version ${version} is not registered`);
      await this.options.warmUp(model);
      this.current.set(alias, model);
      if (before !== undefined) this.options.metrics.serving(alias, before.version, false);
      this.options.metrics.serving(alias, version, true);
      this.loggedFailures.delete(version);
      this.options.logger.info(
        { alias, version, previous: before?.version ?? null, ms: Math.round(performance.now() - started) },
        'model serving',
      );
      return true;
    } catch (err) {
      const pe = PipelineError.from(err, ErrorCodes.MODEL_LOAD_FAILED);
      this.options.metrics.loadFailed(version, pe.code);
      if (!this.loggedFailures.has(version)) {
        this.loggedFailures.add(version);
        this.options.logger.error(
          { alias, version, code: pe.code, err: pe.message, serving: before?.version ?? null },
          'model failed to load or warm up; the current model keeps serving',
        );
      }
      return false;
    }
  }

  /**
   * The model a request gets: NO_MODEL (503) while the default alias points nowhere yet (or an
   * alias' version fails to load), MODEL_ALIAS_UNKNOWN (404) for another alias the registry does
   * not have, OBJECT_NOT_FOUND for an unknown version.
   */
  async resolve(choice: ModelChoice = {}): Promise<ServedModel> {
    if (choice.version !== undefined) return this.pinnedModel(choice.version);
    if (choice.alias === undefined) {
      const alias = this.aliasOfNext();
      if (alias !== this.options.defaultAlias) {
        try {
          return await this.resolve({ alias });
        } catch {
          // No challenger to send the canary share to: the default alias answers.
        }
      }
    }
    const alias = choice.alias ?? this.options.defaultAlias;
    let model = this.current.get(alias);
    if (model === undefined && alias !== this.options.defaultAlias) {
      // Other aliases (a challenger, say) load on first use; one the registry does not have is the
      // request's mistake (404), not a state to retry (a 503 NO_MODEL would send clients back forever).
      const version = await this.options.source.versionOf(alias);
      if (version === null)
        throw new PipelineError(ServingErrorCodes.MODEL_ALIAS_UNKNOWN, `the model registry has no alias ${JSON.stringify(alias)}`, {
          context: { alias },
        });
      await this.swap(alias, version);
      model = this.current.get(alias);
    }
    if (model === undefined) {
      throw new PipelineError(
        ServingErrorCodes.NO_MODEL,
        `no model serves alias ${JSON.stringify(alias)} yet`,
        {
          retriable: true,
          context: { alias },
        },
      );
    }
    return model;
  }

  private async pinnedModel(version: string): Promise<ServedModel> {
    for (const m of this.current.values()) if (m.version === version) return m;
    let loading = this.pinned.get(version);
    if (loading === undefined) {
      loading = this.options.source.load(version);
      this.pinned.set(version, loading);
      loading.then(
        (m) => m === null && this.pinned.delete(version),
        () => this.pinned.delete(version),
      );
      const limit = this.options.pinnedCache ?? 2;
      while (this.pinned.size > limit) this.pinned.delete(this.pinned.keys().next().value as string);
    } else {
      // Most recently used last.
      this.pinned.delete(version);
      this.pinned.set(version, loading);
    }
    const model = await loading;
    if (model === null) {
      throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `model version ${version} is not registered`, {
        context: { version },
      });
    }
    return model;
  }
}
