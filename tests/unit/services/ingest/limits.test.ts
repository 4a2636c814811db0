import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineError } from '../../../../schemas/errors.ts';
import { DEFAULT_INGEST_LIMITS, validateIngestLimits } from '../../../../services/ingest/limits.ts';

test('ingest limits are validated up front with a message naming the key and the value', () => {
  assert.deepEqual(validateIngestLimits(DEFAULT_INGEST_LIMITS), DEFAULT_INGEST_LIMITS);
  assert.throws(
    () => validateIngestLimits({ ...DEFAULT_INGEST_LIMITS, maxFiles: 0 }),
    (err: unknown) =>
      err instanceof PipelineError &&
      err.code === 'CONFIG_INVALID' &&
      err.message.includes('maxFiles=0') &&
      err.context.key === 'maxFiles',
  );
  assert.throws(
    () => validateIngestLimits({ ...DEFAULT_INGEST_LIMITS, maxFieldBytes: 1.5 }),
    /maxFieldBytes=1\.5/,
  );
});
