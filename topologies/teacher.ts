import type { Catalog } from '../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../runtime/lake/object-store.ts';
import { loadArtifacts } from '../runtime/lake/model-registry.ts';

/** A loaded teacher model: its version and bundle files, shared with worker threads without copying. */
export interface Teacher {
  readonly version: string;
  readonly bundle: ReadonlyMap<string, Uint8Array>;
}

/** Where the teacher comes from: a model alias (the champion by default) or a pinned version. */
export interface TeacherSpec {
  readonly modelName: string;
  readonly alias?: string;
  readonly version?: string;
}

function shared(bytes: Uint8Array): Uint8Array {
  // SharedArrayBuffer: every worker thread sees the same bytes instead of a copy per task.
  const out = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  out.set(bytes);
  return out;
}

/**
 * Resolves the teacher captioner of the labeling path: the model an alias points to now (so a
 * promotion switches teachers without a restart) or a pinned version. Bundles are cached by
 * version; null when no model exists yet.
 */
export function teacherResolver(catalog: Catalog, objects: ObjectStore, spec: TeacherSpec): () => Promise<Teacher | null> {
  const cache = new Map<string, Promise<Teacher>>();
  return async () => {
    const model =
      spec.version !== undefined ? await catalog.models.get(spec.version) : await catalog.models.byAlias(spec.modelName, spec.alias ?? 'champion');
    if (model === null) return null;
    let teacher = cache.get(model.id);
    if (teacher === undefined) {
      teacher = loadArtifacts(objects, model).then((files) => {
        const bundle = new Map<string, Uint8Array>();
        for (const [name, bytes] of files) if (!name.startsWith('checkpoint.')) bundle.set(name, shared(bytes));
        return { version: model.id, bundle };
      });
      cache.clear();
      cache.set(model.id, teacher);
      teacher.catch(() => cache.delete(model.id));
    }
    return teacher;
  };
}
