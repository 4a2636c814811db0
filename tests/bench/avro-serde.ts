/**
 * The Avro serde against bare avsc on the same image.ingested values, in one process:
 * decode + re-encode per message. The serde adds the Confluent frame (magic byte, schema id),
 * the registry lookup (cached), reader-schema resolution, plain-object records and, on a
 * failure only, a full validation naming every bad field; this shows what that costs.
 * Run: `npx tsx tests/bench/avro-serde.ts [--rounds N]` (CAPTIONFLOW_BENCH_FULL=1 for 500 000 messages).
 */
import avro from 'avsc';
import { avroSerdePort } from '../../runtime/engine/avro-serde-port.ts';
import { AvroSerde } from '../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../runtime/serde/embedded-schema-registry.ts';
import { Topics } from '../../schemas/topics.ts';
import { benchIngested } from './events.ts';
import { FULL, Samples, report, roundsArg, timed, type Row } from './harness.ts';

const N = FULL ? 500_000 : 50_000;
const ROUNDS = roundsArg(5);

const registry = new EmbeddedSchemaRegistry({ path: ':memory:' });
const serde = new AvroSerde(registry);
// The engine's Serde port, as a topology uses it (a throw-away topic name carrying the contract).
const port = avroSerdePort(serde, () => Topics.imageIngested.name);
const frames: Buffer[] = [];
let bytes = 0;
for (let i = 0; i < N; i++) {
  const buf = await serde.encode(Topics.imageIngested, benchIngested(i, 'bench'));
  frames.push(buf);
  bytes += buf.length;
}
const bare = avro.Type.forSchema(Topics.imageIngested.schema as avro.Schema);

const BARE = 'bare avsc fromBuffer + toBuffer';
const SERDE = 'AvroSerde decode + encode (Serde port)';
const samples = new Samples();
let sink = 0;
for (let r = 0; r < ROUNDS; r++) {
  const b = await timed(() => {
    for (const f of frames) sink += bare.toBuffer(bare.fromBuffer(f.subarray(5))).length;
    return Promise.resolve();
  });
  const s = await timed(async () => {
    for (const f of frames)
      sink += (await port.encode('bench', (await port.decode('bench', f)).value)).length;
  });
  samples.add(BARE, b);
  samples.add(SERDE, s);
}
const row = (name: string, baseline?: string): Row => ({
  name,
  count: N,
  seconds: samples.get(name),
  unit: 'msgs',
  ...(baseline === undefined ? {} : { baseline }),
});
console.log(
  `${N} image.ingested values, ${(bytes / N).toFixed(0)} B average framed; ${ROUNDS} interleaved rounds (checksum ${sink})`,
);
report('Avro serde vs bare avsc, decode + encode', [row(BARE), row(SERDE, BARE)]);
await registry.close();
