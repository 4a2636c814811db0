/**
 * Kafka's default partitioner (murmur2 of the key, positive, modulo partitions), so a key
 * lands on the same partition number in the embedded log as in Kafka with the Java client.
 */
export function partitionForKey(key: Buffer | string | null, partitions: number, counter: number): number {
  if (partitions <= 1) return 0;
  if (key === null) return counter % partitions;
  const bytes = typeof key === 'string' ? Buffer.from(key) : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}

/** murmur2 as implemented by Kafka's `Utils.murmur2` (seed 0x9747b28c). */
export function murmur2(data: Buffer): number {
  const length = data.length;
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = Math.floor(length / 4);
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4 + 0]! & 0xff) +
      ((data[i4 + 1]! & 0xff) << 8) +
      ((data[i4 + 2]! & 0xff) << 16) +
      ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length % 4;
  const base = length & ~3;
  if (rest === 3) h ^= (data[base + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[base + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[base]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** What kafkajs hands a custom partitioner (the subset used here). */
interface KafkajsPartitionArgs {
  readonly topic: string;
  readonly partitionMetadata: readonly { readonly partitionId: number; readonly leader: number }[];
  readonly message: { readonly key?: Buffer | string | null; readonly partition?: number | null };
}

/**
 * A kafkajs partitioner with the same choices as kafkajs' DefaultPartitioner (explicit partition;
 * else murmur2 of the key over all partitions, as the Java client; else round-robin, which is
 * delegated to `fallback`), with murmur2 on 32-bit integer multiplication instead of kafkajs'
 * Long arithmetic — an order of magnitude cheaper per keyed record, same partitions.
 */
export function fastKeyPartitioner<A extends KafkajsPartitionArgs>(
  fallback: (args: A) => number,
): (args: A) => number {
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) {
      const bytes = typeof message.key === 'string' ? Buffer.from(message.key) : message.key;
      return (murmur2(bytes) & 0x7fffffff) % partitionMetadata.length;
    }
    return fallback(args);
  };
}
