package dev.partwright.bench.serde;

import dev.partwright.embedded.EmbeddedSchemaRegistry;
import dev.partwright.embedded.ExternalSchemaRegistry;
import dev.partwright.embedded.SchemaRegistryEndpoint;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.Topics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Serde throughput of a {@code PartitionAdded}-carrying {@link BoundaryChange}: Partwright's
 * Confluent wire-format serde (schema ids cached after the first record, as in steady state) beside
 * plain Avro ({@code SpecificDatumWriter} to a byte array, {@code SpecificDatumReader} back), in
 * the same run. Goal: the serde at 0.8x plain Avro or better.
 *
 * <p>The registry is {@code PARTWRIGHT_SCHEMA_REGISTRY_URL} if set, else an embedded Apicurio
 * started in the benchmark JVM; it is asked once, during setup. Run:
 *
 * <pre>
 *   mvn -pl bench -am install -DskipTests
 *   mvn -pl bench exec:exec -Dexec.executable=java \
 *       -Dexec.args="-cp %classpath dev.partwright.bench.serde.SerdeBenchmark"
 * </pre>
 *
 * (append {@code --interleaved} to the class name for the interleaved control, see {@link #main}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class SerdeBenchmark {

  private static final String TOPIC = Topics.BOUNDARIES;
  /** Set by {@link #main} for the forked benchmark JVMs, so one registry serves them all. */
  private static final String REGISTRY_PROPERTY = "partwright.bench.schema-registry.url";

  private SchemaRegistryEndpoint registry;
  private BoundaryChange change;

  private RegistryAvroSerde<BoundaryChange> serde;
  private byte[] wireFormat;

  private SpecificDatumWriter<BoundaryChange> writer;
  private SpecificDatumReader<BoundaryChange> reader;
  private BinaryEncoder encoder;
  private BinaryDecoder decoder;
  private byte[] plainAvro;

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    registry = registry();
    Instant day = Instant.parse("2026-03-01T00:00:00Z");
    change = new BoundaryChange("acme/public.events", 42L, "public.events", Instant.parse("2026-02-01T10:15:30.123456Z"),
        new PartitionAdded("public.events_p2026_03_01", "public.events",
            new PartitionKey(Strategy.RANGE, List.of("ts"), List.of("timestamp with time zone")),
            Bounds.timeRange(day, day.plusSeconds(86_400)), null));
    serde = PartwrightSerdes.create(SchemaRegistryConfig.of(registry.url())).serde(BoundaryChange.class);
    wireFormat = serde.encode(TOPIC, change); // registers the schema: every later call hits the cache
    // after the serde: Avro 1.12 instantiates only trusted classes, and loading the serde trusts ours
    writer = new SpecificDatumWriter<>(BoundaryChange.class);
    reader = new SpecificDatumReader<>(BoundaryChange.class);
    plainAvro = plainSerialize();
    if (!serde.decode(TOPIC, wireFormat).equals(change) || !plainDeserialize(plainAvro).equals(change)) {
      throw new IllegalStateException("round trip changed the record");
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    registry.close();
  }

  @Benchmark
  public BoundaryChange partwrightRoundTrip() {
    return serde.decode(TOPIC, serde.encode(TOPIC, change));
  }

  @Benchmark
  public BoundaryChange plainAvroRoundTrip() throws IOException {
    return plainDeserialize(plainSerialize());
  }

  @Benchmark
  public byte[] partwrightSerialize() {
    return serde.encode(TOPIC, change);
  }

  @Benchmark
  public byte[] plainAvroSerialize() throws IOException {
    return plainSerialize();
  }

  @Benchmark
  public BoundaryChange partwrightDeserialize() {
    return serde.decode(TOPIC, wireFormat);
  }

  @Benchmark
  public BoundaryChange plainAvroDeserialize() throws IOException {
    return plainDeserialize(plainAvro);
  }

  /** What a hand-written Kafka serializer on plain Avro does: a fresh byte array per record. */
  private byte[] plainSerialize() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream(128);
    encoder = EncoderFactory.get().binaryEncoder(out, encoder);
    writer.write(change, encoder);
    encoder.flush();
    return out.toByteArray();
  }

  private BoundaryChange plainDeserialize(byte[] bytes) throws IOException {
    decoder = DecoderFactory.get().binaryDecoder(bytes, decoder);
    return reader.read(null, decoder);
  }

  private static SchemaRegistryEndpoint registry() {
    String url = System.getProperty(REGISTRY_PROPERTY, System.getenv(ExternalSchemaRegistry.URL_ENV));
    return url != null && !url.isBlank() ? ExternalSchemaRegistry.connect(url) : EmbeddedSchemaRegistry.start();
  }

  /**
   * Runs the benchmarks and prints records/s of both, and their ratio. Arguments go to JMH
   * (e.g. {@code -f 2 -wi 5}); {@code --interleaved} instead measures all six in alternating
   * 300 ms slices in one JVM, so that load from other processes on a shared machine hits both
   * sides alike (a control for the JMH figures, which run one benchmark after the other).
   */
  public static void main(String[] args) throws Exception {
    Map<String, Double> score = new HashMap<>();
    SchemaRegistryEndpoint shared = registry();
    try {
      if (args.length > 0 && args[0].equals("--interleaved")) {
        System.setProperty(REGISTRY_PROPERTY, shared.url());
        score = interleaved();
      } else {
        Options options = new OptionsBuilder()
            .parent(new org.openjdk.jmh.runner.options.CommandLineOptions(args))
            .include(SerdeBenchmark.class.getName() + ".*")
            .jvmArgsAppend("-Xmx1g", "-D" + REGISTRY_PROPERTY + "=" + shared.url())
            .build();
        for (RunResult r : new Runner(options).run()) {
          String name = r.getParams().getBenchmark();
          score.put(name.substring(name.lastIndexOf('.') + 1), r.getPrimaryResult().getScore());
        }
      }
    } finally {
      shared.close();
    }
    System.out.println();
    System.out.println("BoundaryChange(PartitionAdded), records/s, one thread:");
    for (String what : List.of("RoundTrip", "Serialize", "Deserialize")) {
      double ours = score.getOrDefault("partwright" + what, Double.NaN);
      double plain = score.getOrDefault("plainAvro" + what, Double.NaN);
      System.out.printf("  %-12s partwright (Confluent wire format) %,12.0f   plain Avro %,12.0f   ratio %.2f%n",
          what, ours, plain, ours / plain);
    }
  }

  private static Map<String, Double> interleaved() throws IOException {
    SerdeBenchmark b = new SerdeBenchmark();
    b.setUp();
    Map<String, Callable<Object>> variants = new LinkedHashMap<>();
    variants.put("partwrightRoundTrip", b::partwrightRoundTrip);
    variants.put("plainAvroRoundTrip", b::plainAvroRoundTrip);
    variants.put("partwrightSerialize", b::partwrightSerialize);
    variants.put("plainAvroSerialize", b::plainAvroSerialize);
    variants.put("partwrightDeserialize", b::partwrightDeserialize);
    variants.put("plainAvroDeserialize", b::plainAvroDeserialize);
    Map<String, long[]> opsAndNanos = new HashMap<>();
    int sink = 0;
    try {
      for (int round = 0; round < 30; round++) {
        for (Map.Entry<String, Callable<Object>> v : variants.entrySet()) {
          long t0 = System.nanoTime();
          long ops = 0;
          while (System.nanoTime() - t0 < 300_000_000L) {
            for (int i = 0; i < 500; i++) {
              sink += System.identityHashCode(v.getValue().call()) & 1;
            }
            ops += 500;
          }
          if (round >= 6) { // the first rounds are the warm-up
            long[] acc = opsAndNanos.computeIfAbsent(v.getKey(), k -> new long[2]);
            acc[0] += ops;
            acc[1] += System.nanoTime() - t0;
          }
        }
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    } finally {
      b.tearDown();
    }
    Map<String, Double> score = new HashMap<>();
    opsAndNanos.forEach((k, v) -> score.put(k, v[0] * 1e9 / v[1]));
    if (sink == Integer.MIN_VALUE) {
      System.out.println(); // keeps the results observable to the JIT
    }
    return score;
  }
}
