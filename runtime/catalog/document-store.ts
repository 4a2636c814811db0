/**
 * The small document-store interface the catalog repositories are written against, once, for
 * both adapters (SQLite and MongoDB). It offers exactly what both can do without transactions:
 * read by id, insert-if-absent, compare-and-set replace on a revision number, equality/range/`in`
 * queries on indexed fields with sort and limit, and counts grouped by one field.
 *
 * The compare-and-set on `rev` is what makes merge-upserts safe without transactions: a writer
 * reads the record, merges its patch, and replaces only if nobody wrote in between; otherwise it
 * reads again. Internal to the catalog: not a port, not exported from `runtime/ports.ts`.
 */
import type { JsonValue } from './canonical-json.ts';

/** A value a query can compare with. */
export type Scalar = string | number | boolean | null;

/** A condition on one field. */
export interface Condition {
  readonly eq?: Scalar;
  readonly in?: readonly Scalar[];
  readonly gt?: string | number;
  readonly gte?: string | number;
  readonly lt?: string | number;
  readonly lte?: string | number;
}

/** A query: all conditions must hold. Field `id` is the document id; dotted paths reach into objects. */
export interface FindQuery {
  readonly where?: Readonly<Record<string, Scalar | Condition>>;
  readonly orderBy?: readonly { readonly field: string; readonly dir: 'asc' | 'desc' }[];
  readonly limit?: number;
}

/** A document with its revision and content hash. */
export interface StoredDocument {
  readonly id: string;
  /** Starts at 1, incremented by every replace. */
  readonly rev: number;
  /** The content hash the writer computed (see canonical-json). */
  readonly hash: string;
  readonly doc: Record<string, JsonValue>;
}

/** The declaration of a collection: its name and the fields to index (each entry one compound index). */
export interface CollectionSpec {
  readonly name: string;
  readonly indexes: readonly (readonly string[])[];
}

/** One collection (a table in SQLite). */
/** A document to insert: its id, body and content hash. */
export interface NewDocument {
  readonly id: string;
  readonly doc: Record<string, JsonValue>;
  readonly hash: string;
}

export interface DocumentCollection {
  get(id: string): Promise<StoredDocument | null>;
  getMany(ids: readonly string[]): Promise<StoredDocument[]>;
  /** Insert unless the id exists; false when it did. */
  insert(id: string, doc: Record<string, JsonValue>, hash: string): Promise<boolean>;
  /**
   * {@link insert} for several documents in one round trip (one transaction on SQLite, one
   * unordered bulk insert on MongoDB): each is inserted unless its id exists, in no promised
   * order; per entry, false when it did.
   */
  insertMany(entries: readonly NewDocument[]): Promise<boolean[]>;
  /** Replace if the stored revision is still `expectedRev`; false when it was not (or the document is gone). */
  replace(id: string, doc: Record<string, JsonValue>, hash: string, expectedRev: number): Promise<boolean>;
  /** Set one top-level field without changing rev or hash (bookkeeping that is not content, e.g. integrity marks). */
  setField(id: string, field: string, value: JsonValue): Promise<void>;
  find(query: FindQuery): Promise<StoredDocument[]>;
  count(where?: FindQuery['where']): Promise<number>;
  /** Counts per distinct value of `field` among the documents matching `where`. */
  countBy(field: string, where?: FindQuery['where']): Promise<{ value: Scalar; count: number }[]>;
}

/** A set of collections. */
export interface DocumentStore {
  readonly kind: 'sqlite' | 'mongo';
  /** Open (creating table/indexes if needed) a collection. */
  collection(spec: CollectionSpec): Promise<DocumentCollection>;
  close(): Promise<void>;
}

const FIELD_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Field paths are spliced into SQL JSON paths, so they are checked against a strict pattern. */
export function assertFieldPath(field: string): void {
  if (!FIELD_PATTERN.test(field)) throw new TypeError(`invalid field path ${JSON.stringify(field)}`);
}

/** True when `value` is a {@link Condition} rather than a scalar to compare for equality. */
export function isCondition(value: Scalar | Condition): value is Condition {
  return typeof value === 'object' && value !== null;
}
