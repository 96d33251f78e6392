package dev.partwright.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaParser;
import org.apache.avro.specific.SpecificData;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The contracts' promise to consumers we have never seen: today's schema of every released topic
 * payload reads what every released version wrote (BACKWARD, transitively: the boundary and
 * snapshot topics are compacted, so records of every old version stay in them). Checked with
 * Avro's own {@link SchemaCompatibility}. Baselines: {@code src/test/resources/released/<version>/},
 * written by {@link ReleaseSchemas}.
 */
class BackwardCompatibilityTest {

  static final Path RELEASED = Path.of("src", "test", "resources", "released");
  static final Path SOURCES = Path.of("src", "main", "avro");

  @TestFactory
  Stream<DynamicTest> currentContractsReadEveryReleasedVersion() {
    List<DynamicTest> tests = new ArrayList<>();
    for (String version : releases()) {
      releasedSchemas(version).forEach((name, released) -> tests.add(DynamicTest.dynamicTest(name + " " + version,
          () -> assertThat(backwardProblems(released, currentSchema(name)))
              .as("%s no longer reads what %s wrote; make the change backward compatible (new fields need"
                  + " defaults, no removed union branches or enum symbols, no type changes)", name, version)
              .isEmpty())));
    }
    return tests.stream();
  }

  @Test
  void theTopicPayloadsAreReleased() {
    assertThat(releases()).as("released versions under %s", RELEASED).isNotEmpty();
    assertThat(releasedSchemas(releases().get(0)))
        .containsKeys("IngestionEvent", "CommandLogEntry", "BoundaryChange", "CatalogSnapshot", "CapacityAlert",
            "ManagedTablePolicy");
  }

  /**
   * Every top-level contract (an {@code .avsc} directly under src/main/avro: topic payloads and the
   * records persisted inside compacted snapshots) has a baseline, so none escapes the check above.
   * Shared types under {@code common/} are checked through the records that use them.
   */
  @Test
  void everyTopLevelContractHasABaseline() throws IOException {
    java.util.Set<String> baselined = new java.util.HashSet<>();
    for (String version : releases()) {
      releasedSchemas(version).values().forEach(released -> namedTypes(released, baselined));
    }
    try (Stream<Path> files = Files.list(SOURCES)) {
      List<String> contracts = files.filter(f -> f.toString().endsWith(".avsc"))
          .map(f -> f.getFileName().toString().replace(".avsc", "")).sorted().toList();
      assertThat(contracts).isNotEmpty();
      assertThat(baselined).as("contracts with a baseline (their own, or inside a released record); release one with"
          + " ReleaseSchemas for each new .avsc").containsAll(contracts);
    }
  }

  @Test
  void theCheckFailsOnAnIncompatibleChangeToAnAvscFile() {
    Schema released = releasedSchemas("0.1.0").get("BoundaryChange");
    String source = read(SOURCES.resolve("BoundaryChange.avsc"));

    // a field renamed without an alias: old records have no value for it
    Schema renamed = parseSourcesWith("BoundaryChange", source.replace("\"name\":\"rootTable\"", "\"name\":\"rootRelation\""));
    assertThat(backwardProblems(released, renamed))
        .anySatisfy(p -> assertThat(p).startsWith("READER_FIELD_MISSING_DEFAULT_VALUE at /fields/2").contains("rootRelation"));

    // a kind of boundary change dropped: old records of that kind cannot be read
    Schema fewerKinds = parseSourcesWith("BoundaryChange", source.replace(",\"PartitionReplaced\"]", "]"));
    assertThat(backwardProblems(released, fewerKinds))
        .anySatisfy(p -> assertThat(p).startsWith("MISSING_UNION_BRANCH at /fields/4/type"));

    // a type narrowed
    Schema narrowed = parseSourcesWith("BoundaryChange",
        source.replace("{\"name\":\"aggregateVersion\",\"type\":\"long\"", "{\"name\":\"aggregateVersion\",\"type\":\"int\""));
    assertThat(backwardProblems(released, narrowed))
        .anySatisfy(p -> assertThat(p).startsWith("TYPE_MISMATCH at /fields/1/type"));
  }

  @Test
  void theCheckPassesACompatibleChange() {
    Schema released = releasedSchemas("0.1.0").get("BoundaryChange");
    String source = read(SOURCES.resolve("BoundaryChange.avsc"));
    String withOptionalField = source.replace("\"fields\":[",
        "\"fields\":[{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"New.\"},");
    assertThat(withOptionalField).isNotEqualTo(source);
    assertThat(backwardProblems(released, parseSourcesWith("BoundaryChange", withOptionalField))).isEmpty();
  }

  @Test
  void theAvscSourcesAreWhatTheGeneratedClassesCarry() {
    for (String name : List.of("IngestionEvent", "CommandLogEntry", "BoundaryChange")) {
      String source = read(SOURCES.resolve(name + ".avsc"));
      assertThat(parseSourcesWith(name, source)).isEqualTo(RegistryAvroSerde.portable(currentSchema(name)));
    }
  }

  // ------------------------------------------------------------------------------------------

  /** Avro's verdict on reading data written with {@code released} using {@code current}: empty when it can. */
  static List<String> backwardProblems(Schema released, Schema current) {
    SchemaCompatibility.SchemaPairCompatibility verdict =
        SchemaCompatibility.checkReaderWriterCompatibility(current, released);
    List<String> problems = new ArrayList<>();
    for (SchemaCompatibility.Incompatibility i : verdict.getResult().getIncompatibilities()) {
      problems.add(i.getType() + " at " + i.getLocation() + ": " + i.getMessage());
    }
    return problems;
  }

  /** The simple names of {@code schema} and every record, enum and fixed type inside it. */
  private static void namedTypes(Schema schema, java.util.Set<String> names) {
    switch (schema.getType()) {
      case RECORD -> {
        if (names.add(schema.getName())) {
          schema.getFields().forEach(f -> namedTypes(f.schema(), names));
        }
      }
      case ENUM, FIXED -> names.add(schema.getName());
      case UNION -> schema.getTypes().forEach(t -> namedTypes(t, names));
      case ARRAY -> namedTypes(schema.getElementType(), names);
      case MAP -> namedTypes(schema.getValueType(), names);
      default -> { }
    }
  }

  static List<String> releases() {
    if (!Files.isDirectory(RELEASED)) {
      return List.of();
    }
    try (Stream<Path> dirs = Files.list(RELEASED)) {
      return dirs.filter(Files::isDirectory).map(d -> d.getFileName().toString())
          .sorted(Comparator.comparing(BackwardCompatibilityTest::versionKey)).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Sorts 0.10.0 after 0.9.0. */
  private static String versionKey(String version) {
    StringBuilder key = new StringBuilder();
    for (String part : version.split("[.-]")) {
      key.append(part.chars().allMatch(Character::isDigit) ? String.format("%08d", Integer.parseInt(part)) : part).append('.');
    }
    return key.toString();
  }

  static Map<String, Schema> releasedSchemas(String version) {
    Map<String, Schema> out = new LinkedHashMap<>();
    try (Stream<Path> files = Files.list(RELEASED.resolve(version))) {
      for (Path file : files.filter(f -> f.toString().endsWith(".avsc")).sorted().toList()) {
        String name = file.getFileName().toString().replace(".avsc", "");
        out.put(name, new Schema.Parser().parse(file.toFile()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  private static Schema currentSchema(String name) {
    try {
      return SpecificData.get().getSchema(Class.forName("dev.partwright.schemas." + name));
    } catch (ClassNotFoundException e) {
      throw new AssertionError("released schema " + name + " has no generated class any more: removing a topic"
          + " payload breaks its consumers", e);
    }
  }

  /** Parses every {@code .avsc} under src/main/avro, with {@code name}'s text replaced, and returns {@code name}. */
  private static Schema parseSourcesWith(String name, String text) {
    SchemaParser parser = new SchemaParser();
    try (Stream<Path> files = Files.walk(SOURCES)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".avsc")).sorted().toList()) {
        if (file.getFileName().toString().equals(name + ".avsc")) {
          parser.parse(text);
        } else {
          parser.parse(file);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return parser.getParsedNamedSchemas().stream().filter(s -> s.getFullName().equals("dev.partwright.schemas." + name))
        .findFirst().orElseThrow();
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
