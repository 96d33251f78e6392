package dev.partwright.schemas;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificData;

/**
 * The release step of the contracts: copies the current schema of each topic payload, fully
 * inlined and as registered (without Java-only properties), to {@code src/test/resources/released/<version>/<Name>.avsc}, the baseline
 * {@link BackwardCompatibilityTest} holds every later change to. Run from the module directory:
 *
 * <pre>
 *   mvn -pl schemas test-compile exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=dev.partwright.schemas.ReleaseSchemas -Dexec.args="0.2.0 [Name...]"
 * </pre>
 *
 * Without names, the names of the latest release are released again.
 */
public final class ReleaseSchemas {

  private ReleaseSchemas() {}

  public static void main(String[] args) throws IOException, ClassNotFoundException {
    if (args.length < 1) {
      System.err.println("usage: ReleaseSchemas VERSION [Name...]");
      System.exit(64);
    }
    Path released = BackwardCompatibilityTest.RELEASED;
    List<String> names = args.length > 1 ? Arrays.asList(args).subList(1, args.length)
        : BackwardCompatibilityTest.releases().isEmpty() ? List.of()
        : BackwardCompatibilityTest.releasedSchemas(BackwardCompatibilityTest.releases().get(
            BackwardCompatibilityTest.releases().size() - 1)).keySet().stream().sorted().toList();
    Path dir = Files.createDirectories(released.resolve(args[0]));
    for (String name : names) {
      Schema schema = RegistryAvroSerde.portable(SpecificData.get().getSchema(Class.forName("dev.partwright.schemas." + name)));
      Files.writeString(dir.resolve(name + ".avsc"), schema.toString(true) + "\n", StandardCharsets.UTF_8);
      System.out.println("released " + dir.resolve(name + ".avsc"));
    }
  }
}
