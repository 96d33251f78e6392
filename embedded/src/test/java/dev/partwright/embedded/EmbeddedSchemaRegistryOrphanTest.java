package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A JVM killed with SIGKILL runs no shutdown hook; its registry must still not outlive it. */
class EmbeddedSchemaRegistryOrphanTest {

  /** The child JVM: starts a registry from a short-lived thread, prints its pid, and waits to be killed. */
  public static final class Child {
    public static void main(String[] args) throws Exception {
      Thread starter = new Thread(() -> System.out.println("REGISTRY_PID " + EmbeddedSchemaRegistry.start().process().pid()));
      starter.start();
      starter.join(); // the thread that started the registry is gone: the registry must survive that
      System.out.println("READY");
      System.out.flush();
      Thread.sleep(Duration.ofMinutes(5).toMillis());
    }
  }

  @Test
  void registryDiesWithAKilledJvmButNotWithTheThreadThatStartedIt() throws Exception {
    assertThat(Path.of("/usr/bin/setpriv")).as("util-linux setpriv (parent-death signal)").isExecutable();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process child = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"), Child.class.getName()))
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start();
    long registryPid = -1;
    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = out.readLine(); line != null && !line.equals("READY"); line = out.readLine()) {
        if (line.startsWith("REGISTRY_PID ")) {
          registryPid = Long.parseLong(line.substring("REGISTRY_PID ".length()));
        }
      }
      assertThat(registryPid).as("the child JVM started a registry").isPositive();
      ProcessHandle registry = ProcessHandle.of(registryPid).orElseThrow();
      assertThat(registry.isAlive()).isTrue();

      child.destroyForcibly(); // SIGKILL: no shutdown hook runs
      child.waitFor();

      await().atMost(Duration.ofSeconds(30)).until(() -> !registry.isAlive());
    } finally {
      child.destroyForcibly();
      long pid = registryPid;
      ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly); // never leave one behind, even on failure
    }
  }
}
