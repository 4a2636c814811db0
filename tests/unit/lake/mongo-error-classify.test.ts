/** Which MongoDB-wire errors the catalog retries: FerretDB's SQLite lock is one (seen with four replicas writing at once). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoServerError } from 'mongodb';
import { ErrorCodes } from '../../../schemas/errors.ts';
import { classifyMongoError } from '../../../runtime/catalog/mongo-catalog.ts';

const ferretBusy =
  '[msg_update.go:133 handler.(*Handler).updateDocument] [update.go:114 common.UpdateDocument] [collection.go:191 sqlite.(*collection).UpdateAll] [collection.go:177 sqlite.(*collection).UpdateAll.func1] database is locked (5) (SQLITE_BUSY)';

test("FerretDB's SQLite lock (InternalError, SQLITE_BUSY) is a retriable CATALOG_UNAVAILABLE: an outage the engine waits out, not a dead letter", () => {
  const e = classifyMongoError('replace images', new MongoServerError({ message: ferretBusy, errmsg: ferretBusy, code: 1, codeName: 'InternalError' }));
  assert.equal(e.code, ErrorCodes.CATALOG_UNAVAILABLE);
  assert.equal(e.retriable, true);
  assert.equal(e.isOutage, true);
});

test('other InternalErrors and unknown server errors stay non-retriable', () => {
  for (const [message, code] of [
    ['something else broke', 1],
    ['database is locked (5) (SQLITE_BUSY)', 2],
  ] as const) {
    const e = classifyMongoError('insert images', new MongoServerError({ message, errmsg: message, code }));
    assert.equal(e.retriable, false, message);
  }
});
