/**
 * Where serving finds its models: the registry (aliases and versions in the catalog, artifacts
 * in the lake, checked against their checksums), or a bundle folder on disk for the command line.
 * A loaded bundle's files live in SharedArrayBuffers, so the bundle attached to every caption
 * task is shared with the worker threads, not copied per task.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import { loadArtifacts } from '../../runtime/lake/model-registry.ts';

/** A model ready to attach to caption tasks. */
export interface ServedModel {
  /** The registry version (or the folder's name for a bundle folder). */
  readonly version: string;
  /** Bundle files by name, in SharedArrayBuffers. */
  readonly bundle: ReadonlyMap<string, Uint8Array>;
}

/** Resolves aliases and versions to loaded models. */
export interface ModelSource {
  /** The version an alias points to now, or null when it points nowhere. */
  versionOf(alias: string): Promise<string | null>;
  /** Load a version's bundle; null when the version is unknown. Throws when its artifacts cannot be read. */
  load(version: string): Promise<ServedModel | null>;
}

function shared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  out.set(bytes);
  return out;
}

/** Models of the registry: `name`'s aliases, versions in the catalog, artifacts in the lake. */
export function registryModelSource(catalog: Catalog, objects: ObjectStore, name: string): ModelSource {
  return {
    versionOf: async (alias) => (await catalog.models.getAlias(name, alias))?.version ?? null,
    load: async (version) => {
      const model = await catalog.models.get(version);
      if (model === null) return null;
      const files = await loadArtifacts(objects, model);
      const bundle = new Map<string, Uint8Array>();
      // The training checkpoint is no part of the inference bundle.
      for (const [file, bytes] of files) if (!file.startsWith('checkpoint.')) bundle.set(file, shared(bytes));
      return { version: model.id, bundle };
    },
  };
}

/** A single bundle folder served under every alias (`captionflow caption --model-dir`). */
export function directoryModelSource(dir: string, version = `dir:${dir}`): ModelSource {
  return {
    versionOf: () => Promise.resolve(version),
    load: async (wanted) => {
      if (wanted !== version) return null;
      const bundle = new Map<string, Uint8Array>();
      for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile() || entry.name.startsWith('.')) continue;
        const path = join(entry.parentPath, entry.name);
        bundle.set(relative(dir, path), shared(new Uint8Array(await readFile(path))));
      }
      return { version, bundle };
    },
  };
}
