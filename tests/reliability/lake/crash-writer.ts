/**
 * Child process of the lake crash test: writes objects and catalog records in a loop, the way
 * the topologies do (object first, then the record), until it is killed. Not a test file.
 *
 * argv: <store root> <catalog path>
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { contentKey } from '../../../runtime/lake/object-store.ts';
import { sha256Hex } from '../../../runtime/lake/object-body.ts';

const [root, catalogPath] = process.argv.slice(2);
if (root === undefined || catalogPath === undefined) throw new Error('usage: crash-writer <root> <catalog>');

const store = await openFsObjectStore({ root });
const catalog = await openSqliteCatalog({ path: catalogPath });
process.stdout.write('ready\n');

function body(): Buffer {
  // Mostly small, sometimes up to 2 MiB, so that kills land inside writes too.
  const size =
    Math.random() < 0.2
      ? 256 * 1024 + Math.floor(Math.random() * 2 * 1024 * 1024)
      : 512 + Math.floor(Math.random() * 16 * 1024);
  return randomBytes(size);
}

for (let i = 0; ; i += 1) {
  const bytes = body();
  const sha256 = sha256Hex(bytes);
  const key = contentKey('bronze', sha256, 'bin');
  // Half of the puts stream, in small chunks, to widen the window a kill can hit.
  const chunks = Array.from({ length: Math.ceil(bytes.length / 8192) }, (_, c) =>
    bytes.subarray(c * 8192, (c + 1) * 8192),
  );
  const put =
    i % 2 === 0
      ? await store.put(key, bytes, { contentType: 'application/octet-stream' })
      : await store.put(key, Readable.from(chunks), { contentType: 'application/octet-stream' });
  await catalog.images.upsert({
    id: sha256,
    source: 'crash-test',
    objects: {
      bronze: {
        layer: 'bronze',
        bucket: store.location,
        key,
        sha256: put.sha256,
        size: put.size,
        versionId: null,
      },
    },
  });
  // Overwrites of a few fixed keys: a reader must see one whole version or another.
  const slot = body();
  await store.put(`gold/slots/slot-${i % 4}.bin`, slot, { metadata: { round: String(i) } });
}
