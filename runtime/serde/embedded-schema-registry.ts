/**
 * The embedded SchemaRegistry adapter: a schema store in one SQLite file (better-sqlite3, WAL),
 * or in memory, with the Confluent registry's semantics — global ids shared by identical
 * schemas across subjects, versions per subject from 1, idempotent re-registration, and the
 * subject's compatibility rule (BACKWARD by default) enforced on register.
 *
 * Several processes may share the file: registration runs in an IMMEDIATE transaction, so two
 * of them registering at once still agree on ids.
 */
import Database from 'better-sqlite3';
import avro from 'avsc';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { checkCompatibility } from '../../schemas/compat.ts';
import type { CompatibilityMode } from '../../schemas/compat.ts';
import type { AvroSchemaJson, SchemaRegistry, SubjectVersion } from './schema-registry.ts';

/** Options of {@link EmbeddedSchemaRegistry}. */
export interface EmbeddedSchemaRegistryOptions {
  /** SQLite file path, or `:memory:` for a registry that lives as long as the object. */
  readonly path: string;
  /** Rule a new version must satisfy against the subject's latest one. Default `BACKWARD`. */
  readonly compatibility?: CompatibilityMode | 'NONE';
}

interface SchemaRow {
  readonly id: number;
  readonly schema: string;
}

interface VersionRow {
  readonly id: number;
  readonly version: number;
  readonly schema: string;
}

/**
 * Text that two equal schemas share whatever their whitespace or attribute order, so
 * re-registering a reformatted file yields the same id (as the Confluent registry does).
 */
function canonicalText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalText).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalText(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function parseStored(text: string): AvroSchemaJson {
  return JSON.parse(text) as AvroSchemaJson;
}

/** A schema registry in a SQLite file or in memory. */
export class EmbeddedSchemaRegistry implements SchemaRegistry {
  private readonly db: Database.Database;
  private readonly compatibility: CompatibilityMode | 'NONE';
  private readonly registerTx: (subject: string, schema: AvroSchemaJson) => number;

  constructor(options: EmbeddedSchemaRegistryOptions) {
    if (typeof options.path !== 'string' || options.path === '') {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        'schema registry path must be a file path or ":memory:"',
        {
          context: { key: 'path', value: options.path },
        },
      );
    }
    this.compatibility = options.compatibility ?? 'BACKWARD';
    this.db = new Database(options.path);
    if (options.path !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS schemas (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        canonical TEXT NOT NULL UNIQUE,
        schema TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS subject_versions (
        subject TEXT NOT NULL,
        version INTEGER NOT NULL,
        schema_id INTEGER NOT NULL REFERENCES schemas(id),
        registered_at INTEGER NOT NULL,
        PRIMARY KEY (subject, version),
        UNIQUE (subject, schema_id)
      );
    `);
    const findSchema = this.db.prepare<[string], SchemaRow>(
      'SELECT id, schema FROM schemas WHERE canonical = ?',
    );
    const insertSchema = this.db.prepare<[string, string]>(
      'INSERT INTO schemas (canonical, schema) VALUES (?, ?)',
    );
    const findInSubject = this.db.prepare<[string, number], { version: number }>(
      'SELECT version FROM subject_versions WHERE subject = ? AND schema_id = ?',
    );
    const insertVersion = this.db.prepare<[string, number, number, number]>(
      'INSERT INTO subject_versions (subject, version, schema_id, registered_at) VALUES (?, ?, ?, ?)',
    );
    const register = (subject: string, schema: AvroSchemaJson): number => {
      const canonical = canonicalText(schema);
      const existing = findSchema.get(canonical);
      if (existing !== undefined && findInSubject.get(subject, existing.id) !== undefined) return existing.id;
      const latest = this.latestRow(subject);
      if (latest !== undefined && this.compatibility !== 'NONE') {
        const issues = checkCompatibility(schema, parseStored(latest.schema), this.compatibility);
        if (issues.length > 0) {
          throw new PipelineError(
            ErrorCodes.SCHEMA_INCOMPATIBLE,
            `schema is not ${this.compatibility} compatible with ${subject} version ${latest.version}: ${issues
              .map((i) => i.message)
              .join('; ')}`,
            { context: { subject, version: latest.version, issues } },
          );
        }
      }
      const id = existing?.id ?? Number(insertSchema.run(canonical, JSON.stringify(schema)).lastInsertRowid);
      insertVersion.run(subject, (latest?.version ?? 0) + 1, id, Date.now());
      return id;
    };
    const tx = this.db.transaction(register);
    this.registerTx = (subject, schema) => tx.immediate(subject, schema);
  }

  private latestRow(subject: string): VersionRow | undefined {
    return this.db
      .prepare<[string], VersionRow>(
        `SELECT s.id AS id, v.version AS version, s.schema AS schema
           FROM subject_versions v JOIN schemas s ON s.id = v.schema_id
          WHERE v.subject = ? ORDER BY v.version DESC LIMIT 1`,
      )
      .get(subject);
  }

  /** {@inheritDoc SchemaRegistry.register} */
  register(subject: string, schema: AvroSchemaJson): Promise<number> {
    try {
      avro.Type.forSchema(schema as avro.Schema);
    } catch (err) {
      return Promise.reject(
        new PipelineError(
          ErrorCodes.SCHEMA_INVALID,
          `invalid Avro schema for ${subject}: ${(err as Error).message}`,
          {
            context: { subject },
            cause: err,
          },
        ),
      );
    }
    try {
      return Promise.resolve(this.registerTx(subject, schema));
    } catch (err) {
      return Promise.reject(PipelineError.from(err));
    }
  }

  /** {@inheritDoc SchemaRegistry.getById} */
  getById(id: number): Promise<AvroSchemaJson> {
    const row = this.db.prepare<[number], SchemaRow>('SELECT id, schema FROM schemas WHERE id = ?').get(id);
    if (row === undefined) {
      return Promise.reject(
        new PipelineError(ErrorCodes.SCHEMA_UNKNOWN_ID, `no schema with id ${id}`, {
          context: { schemaId: id },
        }),
      );
    }
    return Promise.resolve(parseStored(row.schema));
  }

  /** {@inheritDoc SchemaRegistry.getLatest} */
  getLatest(subject: string): Promise<SubjectVersion> {
    const row = this.latestRow(subject);
    if (row === undefined) {
      return Promise.reject(
        new PipelineError(ErrorCodes.SCHEMA_SUBJECT_UNKNOWN, `subject ${subject} has no schema`, {
          context: { subject },
        }),
      );
    }
    return Promise.resolve({ id: row.id, version: row.version, schema: parseStored(row.schema) });
  }

  /** Subjects that have at least one version, sorted. */
  subjects(): Promise<string[]> {
    const rows = this.db
      .prepare<[], { subject: string }>('SELECT DISTINCT subject FROM subject_versions ORDER BY subject')
      .all();
    return Promise.resolve(rows.map((r) => r.subject));
  }

  /** Close the database file. */
  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}
