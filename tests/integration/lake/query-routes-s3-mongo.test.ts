/**
 * The Query Data Service route suite (tests/unit/services/query/query-routes-suite.ts) on the
 * S3 server + MongoDB wire (FerretDB): the same test body as the embedded default, on a fresh
 * bucket and database. Skips with the missing variables named when the servers are not configured.
 */
import { runQueryRoutesSuite } from '../../unit/services/query/query-routes-suite.ts';
import { s3MongoLake, s3MongoSkip } from './s3-mongo-lake.ts';

runQueryRoutesSuite('s3 + mongo', s3MongoLake, s3MongoSkip());
