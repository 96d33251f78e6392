package dev.partwright.streams;

import static dev.partwright.streams.Harness.NOW;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.ManagedTablePolicy;
import dev.partwright.schemas.ProvisionPartitions;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Policies registered with {@code partwright manage} reach the running topology through the policies topic. */
class PolicyTopicTopologyTest {

  private Harness h;

  @AfterEach
  void stop() {
    h.close();
  }

  private static ManagedTablePolicy policy(String table, String interval, Integer bufferDays, String tenantColumn) {
    return ManagedTablePolicy.newBuilder().setSchemaName("public").setTable(table).setStrategy("range")
        .setColumn("created_at").setInterval(interval).setZone("UTC").setTenantColumn(tenantColumn)
        .setBufferDays(bufferDays).setRegisteredAt(NOW).build();
  }

  @Test
  void aPolicyPublishedToTheTopicIsLearnedWithoutARestartAndATombstoneUnmanages() {
    h = new Harness(PlannerConfig.defaults(Map.of()).withPoliciesTopic(PlannerConfig.DEFAULT_POLICIES_TOPIC));
    h.send("acme", "orders", NOW);
    assertThat(reason(h.deadLetters.readRecord())).contains("public.orders is not managed");

    h.policies.pipeInput("public.orders", policy("orders", "day", 7, null));
    h.send("acme", "orders", NOW);
    ProvisionPartitions command = Harness.commands(h.log.readValuesToList()).get(0);
    assertThat(command.getPartitions()).hasSize(8); // Nov 25 .. Dec 2: now + 7 days, to the next boundary
    assertThat(command.getPartitions().get(0).getName()).isEqualTo("orders_p20261125");

    h.policies.pipeInput("public.orders", (ManagedTablePolicy) null);
    h.send("acme", "orders", NOW);
    assertThat(reason(h.deadLetters.readRecord())).contains("public.orders is not managed");
  }

  @Test
  void theTopicsPolicyWinsOverTheStaticFallback() {
    TablePolicy daily = TablePolicy.dailyShared("public", "readings");
    h = new Harness(PlannerConfig.defaults(Map.of(daily.qualifiedName(), daily))
        .withPoliciesTopic(PlannerConfig.DEFAULT_POLICIES_TOPIC));
    h.policies.pipeInput("public.readings", policy("readings", "hour", 1, "tenant_id"));

    h.send("acme", "readings", NOW);

    List<ProvisionPartitions> commands = Harness.commands(h.log.readValuesToList());
    assertThat(commands.get(0).getHeader().getAggregateId()).isEqualTo("acme/public.readings");
    assertThat(commands.get(0).getPartitions().get(1).getName()).isEqualTo("readings_acme_p20261125_10");
  }

  private static String reason(TestRecord<byte[], byte[]> record) {
    StringBuilder all = new StringBuilder();
    for (Header header : record.headers()) {
      if (header.key().startsWith("__streams.errors.") && header.value() != null) {
        all.append(new String(header.value(), StandardCharsets.UTF_8)).append('\n');
      }
    }
    return all.toString();
  }
}
