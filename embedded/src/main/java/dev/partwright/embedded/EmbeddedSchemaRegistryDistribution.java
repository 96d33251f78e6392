package dev.partwright.embedded;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Finds the Apicurio Registry distribution ({@code io.apicurio:apicurio-registry-app:<version>},
 * classifier {@code all}, type {@code tar.gz}) and unpacks it once per machine.
 *
 * <p>The tar.gz is a dependency of this module's pom, so any build of the reactor has put it in the
 * local Maven repository; it is looked up there by coordinates at run time rather than copied into
 * {@code target/}, because the shaded CLI jar has no {@code target/} to look in but shares the
 * machine's local repository. Where no Maven build has run, {@code PARTWRIGHT_SCHEMA_REGISTRY_HOME}
 * (or {@code -Dpartwright.schema-registry.home}) names an unpacked distribution instead.
 */
final class EmbeddedSchemaRegistryDistribution {

  static final String GROUP_ID = "io.apicurio";
  static final String ARTIFACT_ID = "apicurio-registry-app";
  static final String CLASSIFIER = "all";

  static final String HOME_PROPERTY = "partwright.schema-registry.home";
  static final String HOME_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_HOME";
  static final String CACHE_PROPERTY = "partwright.schema-registry.cache";

  /** Written last into an unpacked directory: its presence means the unpacking finished. */
  static final String COMPLETE_MARKER = ".partwright-unpacked";

  private EmbeddedSchemaRegistryDistribution() {}

  /** The runner jar to start, unpacking the distribution first if needed. */
  static Path runnerJar(String version) {
    String home = Support.setting(HOME_PROPERTY, HOME_ENV);
    if (home != null) {
      return runnerIn(Path.of(home), version, HOME_ENV + "=" + home);
    }
    Path archive = archiveInLocalRepository(localRepository(), version);
    if (!Files.isRegularFile(archive)) {
      throw new ServerStartException("schema-registry", archive.toString(),
          "cannot start the embedded schema registry: Apicurio Registry " + version + " is not in the local Maven"
              + " repository (looked for " + archive + "). Build the project once (./mvnw install -DskipTests puts it"
              + " there), or fetch it with: mvn dependency:get -Dartifact=" + GROUP_ID + ":" + ARTIFACT_ID + ":"
              + version + ":tar.gz:" + CLASSIFIER + " -Dtransitive=false ; or set " + HOME_ENV
              + " to an unpacked distribution, or PARTWRIGHT_SCHEMA_REGISTRY_URL to use a running registry.");
    }
    Path dir = unpacked(archive, cacheRoot().resolve(ARTIFACT_ID + "-" + version));
    return runnerIn(dir, version, archive.toString());
  }

  /**
   * The local Maven repository: {@code -Dmaven.repo.local}, else {@code -DlocalRepository} (what
   * Surefire sets in forked test JVMs), else {@code <localRepository>} of {@code ~/.m2/settings.xml},
   * else {@code ~/.m2/repository}.
   */
  static Path localRepository() {
    for (String property : new String[] {"maven.repo.local", "localRepository"}) {
      String value = System.getProperty(property);
      if (value != null && !value.isBlank()) {
        return Path.of(value.trim());
      }
    }
    Path m2 = Path.of(System.getProperty("user.home"), ".m2");
    Path fromSettings = fromSettings(m2.resolve("settings.xml"));
    return fromSettings != null ? fromSettings : m2.resolve("repository");
  }

  static Path archiveInLocalRepository(Path repository, String version) {
    return repository.resolve(GROUP_ID.replace('.', '/')).resolve(ARTIFACT_ID).resolve(version)
        .resolve(ARTIFACT_ID + "-" + version + "-" + CLASSIFIER + ".tar.gz");
  }

  private static Path fromSettings(Path settings) {
    try {
      if (!Files.isRegularFile(settings)) {
        return null;
      }
      Matcher m = Pattern.compile("<localRepository>\\s*([^<]+?)\\s*</localRepository>")
          .matcher(Files.readString(settings, StandardCharsets.UTF_8));
      if (!m.find()) {
        return null;
      }
      return Path.of(m.group(1).replace("${user.home}", System.getProperty("user.home")));
    } catch (IOException | RuntimeException e) {
      return null; // an unreadable settings.xml is Maven's problem; fall back to the default
    }
  }

  private static Path cacheRoot() {
    String configured = System.getProperty(CACHE_PROPERTY);
    if (configured != null && !configured.isBlank()) {
      return Path.of(configured.trim());
    }
    // per user: a directory another user created would not be writable
    return Path.of(System.getProperty("java.io.tmpdir"), "partwright-" + System.getProperty("user.name"));
  }

  /**
   * {@code target}, unpacked from {@code archive} if it is not there yet. Several JVMs may race here
   * (parallel module builds): each unpacks into its own temporary sibling and renames it into place;
   * the loser throws its copy away.
   */
  static Path unpacked(Path archive, Path target) {
    if (Files.exists(target.resolve(COMPLETE_MARKER))) {
      return target;
    }
    long t0 = System.nanoTime();
    Path tmp = null;
    try {
      Files.createDirectories(target.getParent());
      tmp = Files.createTempDirectory(target.getParent(), target.getFileName() + ".unpacking-");
      untar(archive, tmp);
      Files.writeString(tmp.resolve(COMPLETE_MARKER), archive + "\n", StandardCharsets.UTF_8);
      if (Files.exists(target) && !Files.exists(target.resolve(COMPLETE_MARKER))) {
        Support.deleteRecursively(target); // a half-unpacked leftover from before this scheme
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | DirectoryNotEmptyException | AtomicMoveNotSupportedException e) {
        if (!Files.exists(target.resolve(COMPLETE_MARKER))) {
          throw e;
        }
        Support.deleteRecursively(tmp); // another JVM won the race with an identical copy
      }
      EmbeddedSchemaRegistry.LOG.info("unpacked {} into {} in {}", archive.getFileName(), target, Support.elapsed(t0));
      return target;
    } catch (IOException e) {
      Support.deleteRecursively(tmp);
      throw new ServerStartException("schema-registry", archive.toString(),
          "cannot start the embedded schema registry: cannot unpack " + archive + " into " + target + ": " + e, e);
    }
  }

  private static void untar(Path archive, Path into) throws IOException {
    Path root = into.toAbsolutePath().normalize();
    try (InputStream file = Files.newInputStream(archive);
        InputStream gz = new GZIPInputStream(new BufferedInputStream(file, 1 << 16), 1 << 16);
        TarArchiveInputStream tar = new TarArchiveInputStream(gz)) {
      TarArchiveEntry entry;
      while ((entry = tar.getNextEntry()) != null) {
        Path out = root.resolve(entry.getName()).normalize();
        if (!out.startsWith(root)) {
          throw new IOException("archive entry escapes the target directory: " + entry.getName());
        }
        if (entry.isDirectory()) {
          Files.createDirectories(out);
        } else if (entry.isFile()) {
          Files.createDirectories(out.getParent());
          Files.copy(tar, out, StandardCopyOption.REPLACE_EXISTING);
        }
        // links and devices: the distribution has none, and we need none
      }
    }
  }

  private static Path runnerIn(Path dir, String version, String source) {
    Path jar = dir.resolve(ARTIFACT_ID + "-" + version + "-runner.jar");
    if (!Files.isRegularFile(jar)) {
      throw new ServerStartException("schema-registry", dir.toString(),
          "cannot start the embedded schema registry: " + jar + " does not exist (distribution from " + source + ")");
    }
    return jar;
  }
}
