package dev.captionflow.bench;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

/**
 * A minimal Kafka Streams application, the yardstick of tests/bench/kafka-passthrough.ts:
 * input topic to output topic, raw bytes or Avro decode + encode with the Confluent wire framing
 * (magic byte 0, 4-byte big-endian schema id, Avro binary), the writer schema fetched by id from
 * a Confluent-compatible registry over HTTP. Prints "FIRST <epoch ms>" at the first record and
 * "RUNNING" once started; runs until stdin closes.
 *
 * Args: brokers inputTopic outputTopic raw|avro applicationId [registryUrl]
 */
public final class Passthrough {
  private static final Map<Integer, Schema> SCHEMAS = new ConcurrentHashMap<>();
  /** Readers and writers per schema id, made once: building them resolves the schema each time. */
  private static final Map<Integer, GenericDatumReader<GenericRecord>> READERS = new ConcurrentHashMap<>();
  private static final Map<Integer, GenericDatumWriter<GenericRecord>> WRITERS = new ConcurrentHashMap<>();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final AtomicBoolean FIRST = new AtomicBoolean(false);

  private Passthrough() {}

  private static Schema schema(String registry, int id) {
    return SCHEMAS.computeIfAbsent(id, k -> {
      try {
        HttpResponse<String> res = HTTP.send(
            HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + k)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
        if (res.statusCode() != 200) throw new IllegalStateException("registry: HTTP " + res.statusCode());
        // {"schema":"<escaped JSON>"}: the Avro parser takes the unescaped string.
        org.apache.avro.Schema.Parser parser = new Schema.Parser();
        String body = res.body();
        String json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(body).get("schema").asText();
        return parser.parse(json);
      } catch (Exception e) {
        throw new IllegalStateException("schema " + k + ": " + e.getMessage(), e);
      }
    });
  }

  private static byte[] avro(String registry, byte[] framed) {
    ByteBuffer buf = ByteBuffer.wrap(framed);
    if (buf.get() != 0) throw new IllegalArgumentException("not a Confluent frame");
    int id = buf.getInt();
    GenericDatumReader<GenericRecord> reader = READERS.computeIfAbsent(id, k -> new GenericDatumReader<>(schema(registry, k)));
    GenericDatumWriter<GenericRecord> writer = WRITERS.computeIfAbsent(id, k -> new GenericDatumWriter<>(schema(registry, k)));
    try {
      BinaryDecoder in = DecoderFactory.get().binaryDecoder(framed, 5, framed.length - 5, null);
      GenericRecord value = reader.read(null, in);
      ByteArrayOutputStream out = new ByteArrayOutputStream(framed.length);
      out.write(0);
      out.write(ByteBuffer.allocate(4).putInt(id).array());
      BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
      writer.write(value, enc);
      enc.flush();
      return out.toByteArray();
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static void main(String[] args) throws Exception {
    String brokers = args[0];
    String input = args[1];
    String output = args[2];
    boolean avro = "avro".equals(args[3]);
    String appId = args[4];
    String registry = args.length > 5 ? args[5] : "";

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("cf-kstreams-").toString());
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    // The same delivery as the captionflow sides: acks from all replicas, idempotent producer.
    p.put(StreamsConfig.producerPrefix("acks"), "all");
    p.put(StreamsConfig.producerPrefix("enable.idempotence"), true);

    StreamsBuilder b = new StreamsBuilder();
    KStream<byte[], byte[]> in = b.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));
    in.mapValues(v -> {
          if (FIRST.compareAndSet(false, true)) System.out.println("FIRST " + System.currentTimeMillis());
          return avro ? avro(registry, v) : v;
        })
        .to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    CountDownLatch done = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) System.out.println("RUNNING");
      if (now == KafkaStreams.State.ERROR) {
        System.out.println("ERROR");
        done.countDown();
      }
    });
    streams.start();
    Thread stdin = new Thread(() -> {
      try {
        while (System.in.read() >= 0) {}
      } catch (java.io.IOException ignored) {
      }
      done.countDown();
    });
    stdin.setDaemon(true);
    stdin.start();
    done.await();
    streams.close(java.time.Duration.ofSeconds(10));
    streams.cleanUp();
  }
}
