package dev.partwright.commandstore;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

/**
 * The partition of the command log that owns an aggregate: murmur2 of the UTF-8 key, as Kafka's
 * default partitioner computes it, so records from the demand topology ({@code to()}), the worker
 * and the store all land in the same partition for the same aggregate.
 */
final class LogPartitioner {

  private LogPartitioner() {}

  static int partitionOf(String aggregateId, int partitions) {
    return Utils.toPositive(Utils.murmur2(aggregateId.getBytes(StandardCharsets.UTF_8))) % partitions;
  }
}
