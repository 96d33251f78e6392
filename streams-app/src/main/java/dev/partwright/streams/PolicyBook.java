package dev.partwright.streams;

import dev.partwright.schemas.ManagedTablePolicy;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the planner looks up a table's policy: the global store of {@code partwright.policies}
 * (what {@code partwright manage} registered) first, the config's static policies second.
 *
 * <p>Parsing a policy record per event would cost more than planning; each processor keeps the
 * parsed policies and drops them when the global store changes (a generation counter the global
 * store's updater bumps). A restore does not go through the updater, but then the caches are empty.
 */
final class PolicyBook {

  private static final Logger LOG = LoggerFactory.getLogger(PolicyBook.class);

  private final Map<String, TablePolicy> fallback;
  private final AtomicLong generation = new AtomicLong();

  PolicyBook(Map<String, TablePolicy> fallback) {
    this.fallback = fallback;
  }

  /** One processor's view: parsed policies, valid for one generation of the global store. */
  final class View {
    private final KeyValueStore<String, ManagedTablePolicy> store;
    private final Map<String, Optional<TablePolicy>> parsed = new HashMap<>();
    private final Map<String, Map<String, Optional<TablePolicy>>> bySchema = new HashMap<>();
    private long seen = -1;
    /** The last table asked for by schema and name, and its answer (null: not managed); valid for {@link #seen}. */
    private String lastSchema;
    private String lastTable;
    private TablePolicy lastPolicy;

    View(KeyValueStore<String, ManagedTablePolicy> store) {
      this.store = store;
    }

    /** The policy of {@code schema.table}, or null when the table is not managed. */
    TablePolicy of(String qualifiedTable) {
      long now = generation.get();
      if (now != seen) {
        parsed.clear();
        bySchema.clear();
        seen = now;
      }
      return parsed.computeIfAbsent(qualifiedTable, this::load).orElse(null);
    }

    /**
     * {@link #of(String)} without building the qualified name: once per event, the concatenation shows.
     * Consecutive events mostly name the table of the one before: that one is answered by comparing
     * the names, without hashing them (each event brings new strings, whose hashes are not cached).
     */
    TablePolicy of(String schema, String table) {
      long now = generation.get();
      if (now != seen) {
        parsed.clear();
        bySchema.clear();
        lastSchema = null;
        seen = now;
      }
      if (lastSchema != null && lastTable.equals(table) && lastSchema.equals(schema)) {
        return lastPolicy;
      }
      Map<String, Optional<TablePolicy>> tables = bySchema.computeIfAbsent(schema, k -> new HashMap<>());
      Optional<TablePolicy> policy = tables.get(table);
      if (policy == null) {
        policy = parsed.computeIfAbsent(schema + "." + table, this::load);
        tables.put(table, policy);
      }
      lastSchema = schema;
      lastTable = table;
      lastPolicy = policy.orElse(null);
      return lastPolicy;
    }

    private Optional<TablePolicy> load(String qualifiedTable) {
      ManagedTablePolicy record = store == null ? null : store.get(qualifiedTable);
      if (record != null) {
        try {
          return Optional.of(TablePolicy.fromRecord(record));
        } catch (IllegalArgumentException e) {
          LOG.warn("ignoring the registered policy of {}: {}", qualifiedTable, e.getMessage());
        }
      }
      return Optional.ofNullable(fallback.get(qualifiedTable));
    }
  }

  View view(KeyValueStore<String, ManagedTablePolicy> store) {
    return new View(store);
  }

  /** Keeps the global store in step with the policies topic; tombstones unmanage. */
  Processor<String, ManagedTablePolicy, Void, Void> updater(String storeName) {
    return new Processor<>() {
      private KeyValueStore<String, ManagedTablePolicy> store;

      @Override
      public void init(ProcessorContext<Void, Void> context) {
        store = context.getStateStore(storeName);
      }

      @Override
      public void process(Record<String, ManagedTablePolicy> record) {
        if (record.key() == null) {
          return;
        }
        if (record.value() == null) {
          store.delete(record.key());
        } else {
          store.put(record.key(), record.value());
        }
        generation.incrementAndGet();
      }
    };
  }
}
