package dev.partwright.schemas;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.util.ClassSecurityValidator;

/**
 * The serdes of every Partwright topic, from one schema registry: Avro in the Confluent wire
 * format, subjects by {@code TopicNameStrategy}. Build one per application and hand it to each
 * stage:
 *
 * <pre>{@code
 * PartwrightSerdes serdes = PartwrightSerdes.create(SchemaRegistryConfig.fromEnvironment());
 * RegistryAvroSerde<BoundaryChange> boundaries = serdes.serde(BoundaryChange.class);
 * producer = new KafkaProducer<>(props, new StringSerializer(), boundaries.serializer());
 * }</pre>
 *
 * One serde per record type and side is kept, so its registry ids and readers are shared.
 */
public final class PartwrightSerdes {

  private static boolean contractsTrusted;

  private final SchemaRegistryClient registry;
  private final Map<Class<?>, RegistryAvroSerde<?>> values = new ConcurrentHashMap<>();
  private final Map<Class<?>, RegistryAvroSerde<?>> keys = new ConcurrentHashMap<>();

  public PartwrightSerdes(SchemaRegistryClient registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
  }

  public static PartwrightSerdes create(SchemaRegistryConfig config) {
    return new PartwrightSerdes(new SchemaRegistryClient(config));
  }

  /** Serde for record values of a generated type (subject {@code <topic>-value}). */
  @SuppressWarnings("unchecked")
  public <T extends SpecificRecord> RegistryAvroSerde<T> serde(Class<T> type) {
    return (RegistryAvroSerde<T>) values.computeIfAbsent(type,
        t -> RegistryAvroSerde.specific(registry, type, false, registry.config().autoRegister()));
  }

  /** Serde for record keys of a generated type (subject {@code <topic>-key}). */
  @SuppressWarnings("unchecked")
  public <T extends SpecificRecord> RegistryAvroSerde<T> keySerde(Class<T> type) {
    return (RegistryAvroSerde<T>) keys.computeIfAbsent(type,
        t -> RegistryAvroSerde.specific(registry, type, true, registry.config().autoRegister()));
  }

  /**
   * Serde for generic record values: writes each record with its own schema, reads each record
   * with the schema it was written with.
   */
  public RegistryAvroSerde<GenericRecord> genericSerde() {
    return RegistryAvroSerde.generic(registry, null, false, registry.config().autoRegister());
  }

  /** Serde for generic record values, reading every record into {@code readerSchema} (schema resolution). */
  public RegistryAvroSerde<GenericRecord> genericSerde(Schema readerSchema) {
    return RegistryAvroSerde.generic(registry, Objects.requireNonNull(readerSchema, "readerSchema"), false,
        registry.config().autoRegister());
  }

  public SchemaRegistryClient registry() {
    return registry;
  }

  /**
   * Avro 1.12 refuses to instantiate classes it was not told to trust; our generated contracts
   * live in this package, so trust exactly this package on top of Avro's defaults. Our serdes do
   * it when loaded; code that decodes contracts with Avro directly (a Redis value) calls this.
   */
  public static synchronized void trustContracts() {
    if (contractsTrusted) {
      return;
    }
    contractsTrusted = true;
    ClassSecurityValidator.ClassSecurityPredicate current = ClassSecurityValidator.getGlobal();
    String contracts = PartwrightSerdes.class.getPackageName();
    ClassSecurityValidator.setGlobal(type -> type.getPackageName().equals(contracts) || current.isTrusted(type));
  }
}
