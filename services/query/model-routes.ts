/**
 * The model registry as the Query Data Service reads it (role `read`), for the dashboard and for
 * people: the versions of the served model with their scores and aliases, a promotion history,
 * and a version's stored evaluation report (samples with references and generated caption, the
 * worst captions by CIDEr-D, scores by concept and by reference length).
 *
 * The history is what the catalog keeps, not a read of the `model.promoted` topic (a query
 * replica consumes no topic): every version's registration, the gate verdict of its evaluation
 * report (promoted or rejected, against which champion, why), a rejection recorded on the
 * version, and each alias's last move (`previous` → `version`). An alias moved several times
 * by hand shows its last move only; the topic keeps every event.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { ModelRecord } from '../../runtime/catalog/catalog.ts';
import type { Lake } from '../../runtime/lake/lake.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import { loadEvaluationReport, reportPointerOf, type StoredEvaluationReport } from '../../runtime/lake/model-reports.ts';

/** What the model routes need. */
export interface ModelReadRoutesDeps {
  readonly lake: Lake;
  /** The served model (`config.models.name`). */
  readonly modelName: string;
}

const READ = { auth: 'api-key', role: 'read' } as const;
/** Versions listed (newest first); reports are read for these only. */
const MAX_VERSIONS = 50;

/** One entry of the promotion history. */
interface HistoryEntry {
  readonly at: string;
  readonly event: 'registered' | 'promoted' | 'rejected' | 'alias';
  readonly version: string;
  readonly alias: string | null;
  readonly previous: string | null;
  readonly reason: string | null;
}

/** Where a version's report came from, as the list shows it. */
function reportPointer(model: ModelRecord): { datasetId: string; split: string } | null {
  const p = reportPointerOf(model);
  return p === null ? null : { datasetId: p.datasetId, split: p.split };
}

/**
 * Reports as read from the lake, by checksum: a report never changes under its checksum, so the
 * list route (which the dashboard polls) reads each one once instead of once per call.
 */
class ReportCache {
  private readonly bySha = new Map<string, StoredEvaluationReport>();

  constructor(private readonly capacity: number) {}

  async load(objects: ObjectStore, model: ModelRecord): Promise<StoredEvaluationReport | null> {
    const pointer = reportPointerOf(model);
    if (pointer === null) return null;
    const hit = this.bySha.get(pointer.sha256);
    if (hit !== undefined) return hit;
    const report = await loadEvaluationReport(objects, model);
    if (report === null) return null;
    this.bySha.set(pointer.sha256, report);
    // Oldest first out (insertion order).
    for (const sha of this.bySha.keys()) {
      if (this.bySha.size <= this.capacity) break;
      this.bySha.delete(sha);
    }
    return report;
  }
}

/** Register `GET /v1/lake/models` and `GET /v1/lake/models/:version/report` on `app`. */
export function registerModelReadRoutes(app: FastifyInstance, deps: ModelReadRoutesDeps): void {
  const { lake, modelName } = deps;
  const reports = new ReportCache(2 * MAX_VERSIONS);

  app.get('/v1/lake/models', { config: READ }, async () => {
    const [models, aliases] = await Promise.all([
      lake.catalog.models.listByName(modelName, MAX_VERSIONS),
      lake.catalog.models.listAliases(modelName),
    ]);
    const history: HistoryEntry[] = [];
    const versions = await Promise.all(
      models.map(async (m) => {
        history.push({
          at: m.createdAt,
          event: 'registered',
          version: m.id,
          alias: null,
          previous: null,
          reason: null,
        });
        // An unreadable report hides the gate verdict only; the version is still listed.
        const report =
          await reports.load(lake.store, m).catch(() => null);
        const gate = report?.gate ?? null;
        if (gate !== null && report !== null)
          history.push({
            at: report.createdAt,
            event: gate.status,
            version: m.id,
            alias: gate.status === 'promoted' ? 'champion' : null,
            previous: gate.champion,
            reason: gate.reason,
          });
        else if (m.status === 'rejected')
          history.push({
            at: m.updatedAt,
            event: 'rejected',
            version: m.id,
            alias: null,
            previous: null,
            reason: typeof m.params.rejectedReason === 'string' ? m.params.rejectedReason : null,
          });
        return {
          version: m.id,
          aliases: aliases
            .filter((a) => a.version === m.id)
            .map((a) => a.alias)
            .sort(),
          source: m.params.source === 'imported' ? 'imported' : 'trained',
          status: m.status,
          datasetId: m.datasetId,
          metrics: m.metrics,
          createdAt: m.createdAt,
          report: reportPointer(m),
          gate: gate === null ? null : { status: gate.status, reason: gate.reason, champion: gate.champion },
        };
      }),
    );
    for (const a of aliases)
      history.push({
        at: a.updatedAt,
        event: 'alias',
        version: a.version,
        alias: a.alias,
        previous: a.previous,
        reason: null,
      });
    history.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
    return {
      model: modelName,
      aliases: aliases.map((a) => ({
        alias: a.alias,
        version: a.version,
        previous: a.previous,
        updatedAt: a.updatedAt,
      })),
      versions,
      history,
    };
  });

  app.get(
    '/v1/lake/models/:version/report',
    {
      config: READ,
      schema: {
        params: {
          type: 'object',
          required: ['version'],
          properties: { version: { type: 'string', minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (req) => {
      const { version } = req.params as { version: string };
      const model = await lake.catalog.models.get(version);
      const report =
        model === null || model.name !== modelName ? null : await reports.load(lake.store, model);
      if (report === null)
        throw new PipelineError(
          ErrorCodes.OBJECT_NOT_FOUND,
          `no evaluation report of model version ${version}`,
          {
            context: { id: version },
          },
        );
      // Per-image scores are what paired comparisons resample: large, and not for reading.
      const { perImageCiderD: _p, ...rest } = report;
      return rest;
    },
  );
}
