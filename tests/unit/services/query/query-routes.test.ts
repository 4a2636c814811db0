/** The Query Data Service route suite on the embedded default: fs objects + SQLite catalog. */
import { fsSqliteLake } from './query-harness.ts';
import { runQueryRoutesSuite } from './query-routes-suite.ts';

runQueryRoutesSuite('fs + sqlite', fsSqliteLake);
