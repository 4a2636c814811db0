/**
 * The lake contract on the distributed adapters: S3 object store + MongoDB (FerretDB) catalog,
 * each test on a fresh bucket and a fresh database (./s3-mongo-lake.ts). Skips with the missing
 * variables named when the servers are not configured.
 */
import { runLakeContract } from '../../unit/lake/lake-contract.ts';
import { s3MongoLake, s3MongoSkip } from './s3-mongo-lake.ts';

runLakeContract('s3 + mongo', s3MongoLake, s3MongoSkip());
