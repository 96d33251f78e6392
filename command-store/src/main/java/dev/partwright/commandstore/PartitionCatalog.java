package dev.partwright.commandstore;

import dev.partwright.schemas.AggregateBody;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.AggregateState;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.CatalogSnapshot;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.EntryKind;
import dev.partwright.schemas.EntryVerdict;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.HistoryEntry;
import dev.partwright.schemas.LivePartition;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSet;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.PendingCommand;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Retired;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Rollback;
import dev.partwright.schemas.RolledBack;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The projection of the command log: for each aggregate, its version, its live partitions, the
 * commands still waiting for an outcome, and its history. Built by folding the log in order.
 *
 * <p>The fold is a pure function of each partition's records in offset order, and every aggregate
 * lives in exactly one partition (records whose key does not hash to their partition are refused),
 * so the same log yields the same catalog however partitions interleave while reading: {@link
 * #canonicalBytes()} is byte-identical for two replays of one log, from offset 0 or from a snapshot.
 *
 * <p>Rules, applied at each record's position in the log (every writer and reader agrees on them,
 * which is what makes the log the arbiter of concurrent appends, see {@link CommandStore}):
 *
 * <ul>
 *   <li>A command whose idempotency key the aggregate already has is a {@link Duplicate}: no effect.
 *   <li>A command whose expected version is set ({@code >= 0}) and differs from the aggregate's
 *       version at that position is a {@link Conflict}: no effect.
 *   <li>Otherwise the command is {@link Applied}: version + 1, pending until its outcome.
 *   <li>An outcome for a pending command is applied (version + 1): {@code Provisioned} makes its
 *       partitions live, {@code Rejected} and non-retryable {@code Failed} end the command, retryable
 *       {@code Failed} leaves it pending, and either {@code Failed} makes the partitions it lists as
 *       created before the failure live, {@code Retired} drops the partitions of a pending
 *       RetirePartitions. {@code RolledBack} drops partitions of a command the aggregate has,
 *       answered or not. Another outcome for an answered command is a duplicate.
 *   <li>A {@code Rejected} answering a command that was a {@link Conflict} is recorded in the
 *       history as a conflict too, with no effect (since fold version 2; version 1 refused it).
 *   <li>A {@code Retired} answering a pending {@code RetirePartitions} drops the partitions it names.
 *   <li>{@link Refused} (sent to the dead-letter topic): unreadable payloads, unknown types, keys that
 *       are not the entry's aggregate or do not hash to the record's partition, commands whose header
 *       names another aggregate, outcomes for a command the aggregate never received, outcomes of the
 *       wrong kind for their command.
 * </ul>
 *
 * <p>Partitions are independent: one thread at a time may fold each partition, and several
 * partitions may be folded at once. Reading is for after folding is done.
 */
public final class PartitionCatalog {

  /** Version of the rules above; snapshots written under other rules are ignored by replay. */
  public static final int FOLD_VERSION = 3; // 2: answers to conflicts recorded; 3: a Failed's created partitions are live

  /** What the fold made of one record. */
  public sealed interface Verdict permits Applied, Duplicate, Conflict, Refused {}

  /** The record changed its aggregate, now at {@code version}. */
  public record Applied(long version) implements Verdict {}

  /** The record repeated what the aggregate already has (first seen at {@code originalOffset}). */
  public record Duplicate(long originalOffset, long version) implements Verdict {}

  /** A command expected the aggregate at {@code expected} but it was at {@code actual}. */
  public record Conflict(long expected, long actual) implements Verdict {}

  /** The record cannot be applied; it belongs in the dead-letter topic. */
  public record Refused(String reason) implements Verdict {}

  /**
   * One aggregate's state. Loaded from a snapshot, its commands stay encoded until the aggregate is
   * first read or folded, and its live partitions until they are read: folding an outcome records
   * what it adds or drops and applies that when the partitions are decoded. Commands and live
   * partitions are kept in {@link ByteTable}s, keyed by their UTF-8 idempotency key and qualified
   * name, each live partition as its encoded {@link LivePartition} (folding needs only names; a
   * decoded partition weighs several times more and the garbage collector would copy it over and
   * over). So a replay from a snapshot decodes the commands of the aggregates its tail touches and
   * no partition at all. Accessors return copies.
   */
  public static final class Aggregate {
    private final String id;
    private final int partition;
    private long version;
    private ByteBuffer body;
    /** Idempotency key to the command's offset (a varint), in log order. */
    private ByteTable commands;
    /** Commands without their final outcome, by idempotency key: a handful at most, so a map of objects. */
    private Map<String, PendingCommand> pending;
    /** A compressed {@link PartitionSet} from a snapshot, until the partitions are read. */
    private ByteBuffer encodedPartitions;
    /** Changes to {@link #encodedPartitions} not applied yet, in log order: a LivePartition to add if absent, a name to drop. */
    private List<Object> partitionChanges;
    /** Qualified name to encoded {@link LivePartition}. */
    private ByteTable partitions;
    private final History history;

    private Aggregate(String id, int partition, History history, ByteBuffer body, ByteBuffer encodedPartitions) {
      this.id = id;
      this.partition = partition;
      this.history = history;
      this.body = body;
      this.encodedPartitions = encodedPartitions;
      if (body == null) {
        commands = new ByteTable();
        pending = new LinkedHashMap<>();
      }
      if (encodedPartitions == null) {
        partitions = new ByteTable();
      } else {
        partitionChanges = new ArrayList<>(0);
      }
    }

    public String id() {
      return id;
    }

    /** The commands-topic partition that owns this aggregate. */
    public int partition() {
      return partition;
    }

    /** Log entries applied to this aggregate; what an append's expected version is compared with. */
    public long version() {
      return version;
    }

    /** Live partitions by qualified name (decoded on each call). */
    public SortedMap<String, LivePartition> partitions() {
      SortedMap<String, LivePartition> out = new TreeMap<>();
      ByteTable live = live();
      for (int e = live.first(); e >= 0; e = live.after(e)) {
        out.put(live.keyString(e), Codec.decode(ByteBuffer.wrap(live.array(), live.valueAt(e), live.valueLength(e)),
            Codec.LIVE_READER));
      }
      return Collections.unmodifiableSortedMap(out);
    }

    /** Commands without their final outcome, oldest first. */
    public List<PendingCommand> pending() {
      return List.copyOf(decoded().pending.values());
    }

    /** Offset of the applied command with this idempotency key, if the aggregate has it. */
    public OptionalLong commandOffset(String idempotencyKey) {
      byte[] key = idempotencyKey.getBytes(StandardCharsets.UTF_8);
      long offset = decoded().commandOffset(key, key.length);
      return offset < 0 ? OptionalLong.empty() : OptionalLong.of(offset);
    }

    /** Idempotency keys of every applied command, in log order. */
    public List<String> commandKeys() {
      List<String> keys = new ArrayList<>(decoded().commands.entries());
      for (int e = commands.first(); e >= 0; e = commands.after(e)) {
        keys.add(commands.keyString(e));
      }
      return List.copyOf(keys);
    }

    /** Every record of the aggregate, oldest first, with what the fold made of it (decoded on each call). */
    public List<HistoryEntry> history() {
      return history.decode();
    }

    public long historySize() {
      return history.count();
    }

    /** The offset of the command with this key (UTF-8), or -1 when the aggregate has none. Decode the body first. */
    private long commandOffset(byte[] key, int length) {
      int e = commands.find(key, 0, length);
      return e < 0 ? -1 : AvroOut.readLong(commands.array(), commands.valueAt(e));
    }

    private void addCommand(byte[] key, int length, long offset) {
      putCommand(commands, key, 0, length, offset);
    }

    /**
     * Puts a command's idempotency key ({@code length} bytes of UTF-8 at {@code at}) and its offset
     * (the value: a varint, as {@link #commandOffset} reads it) into a command table, unless the table
     * has the key.
     */
    static void putCommand(ByteTable commands, byte[] key, int at, int length, long offset) {
      AvroOut value = commands.beginIfAbsent(key, at, length);
      if (value != null) {
        value.writeLong(offset);
        commands.endValue();
      }
    }

    private Aggregate decoded() {
      if (body != null) {
        List<PendingCommand> waiting = new ArrayList<>();
        commands = BodyReader.read(body, waiting);
        pending = new LinkedHashMap<>();
        for (PendingCommand c : waiting) {
          pending.put(keyOf(c.getCommand()), c);
        }
        body = null;
      }
      return this;
    }

    private ByteTable live() {
      if (encodedPartitions != null) {
        PartitionSet set = Codec.decode(ByteBuffer.wrap(Deflated.inflate(encodedPartitions)), Codec.SET_READER);
        partitions = new ByteTable();
        for (int i = 0; i < set.getNames().size(); i++) {
          byte[] name = set.getNames().get(i).getBytes(StandardCharsets.UTF_8);
          ByteBuffer encoded = set.getPartitions().get(i);
          AvroOut value = partitions.beginIfAbsent(name, 0, name.length);
          value.writeRaw(encoded.array(), encoded.arrayOffset() + encoded.position(), encoded.remaining());
          partitions.endValue();
        }
        List<Object> changes = partitionChanges;
        encodedPartitions = null;
        partitionChanges = null;
        AvroOut scratch = new AvroOut(64);
        for (Object change : changes) {
          if (change instanceof LivePartition lp) {
            byte[] key = lp.getIdempotencyKey().getBytes(StandardCharsets.UTF_8);
            qualifiedName(scratch, lp.getSpec());
            addIfAbsent(scratch, lp.getSpec(), key, key.length, lp.getCommandOffset(), lp.getProvisionedAt());
          } else {
            byte[] name = ((String) change).getBytes(StandardCharsets.UTF_8);
            partitions.remove(name, 0, name.length);
          }
        }
      }
      return partitions;
    }

    /**
     * The first outcome to report a partition is who provisioned it; later reports do not rewrite
     * that. {@code name} holds the spec's qualified name in UTF-8, {@code key} the command's.
     */
    private void addIfAbsent(AvroOut name, PartitionSpec s, byte[] key, int keyLength, long commandOffset, Instant at) {
      if (encodedPartitions != null) {
        partitionChanges.add(new LivePartition(s, new String(key, 0, keyLength, StandardCharsets.UTF_8), commandOffset, at));
        return;
      }
      // one probe per partition, and the new partition is encoded where it is kept
      AvroOut value = partitions.beginIfAbsent(name.array(), 0, name.size());
      if (value != null) {
        try {
          LivePartitionEncoding.write(value, s, key, keyLength, commandOffset, at);
        } catch (RuntimeException e) { // an instant Avro cannot encode either: the partition stays absent
          partitions.abandon();
          throw e;
        }
        partitions.endValue();
      }
    }

    private void drop(String name, AvroOut scratch) {
      if (encodedPartitions != null) {
        partitionChanges.add(name);
      } else {
        scratch.reset();
        scratch.writeUtf8(name);
        partitions.remove(scratch.array(), 0, scratch.size());
      }
    }

    /** The commands as a snapshot stores them. */
    private ByteBuffer encodedBody() {
      if (body != null) {
        return body.duplicate();
      }
      List<String> keys = new ArrayList<>(commands.entries());
      List<Long> offsets = new ArrayList<>(commands.entries());
      for (int e = commands.first(); e >= 0; e = commands.after(e)) {
        keys.add(commands.keyString(e));
        offsets.add(AvroOut.readLong(commands.array(), commands.valueAt(e)));
      }
      return ByteBuffer.wrap(Codec.encode(new AggregateBody(keys, offsets, new ArrayList<>(pending.values())),
          Codec.BODY_WRITER));
    }

    /** The live partitions, sorted by name so that equal states encode equally; compressed as a snapshot stores them. */
    private ByteBuffer partitionsBytes(boolean deflated) {
      if (deflated && encodedPartitions != null && partitionChanges.isEmpty()) {
        return encodedPartitions.duplicate();
      }
      ByteTable live = live();
      SortedMap<String, ByteBuffer> byName = new TreeMap<>();
      for (int e = live.first(); e >= 0; e = live.after(e)) {
        byName.put(live.keyString(e), ByteBuffer.wrap(live.value(e)));
      }
      ByteBuffer raw = ByteBuffer.wrap(Codec.encode(new PartitionSet(new ArrayList<>(byName.keySet()),
          new ArrayList<>(byName.values())), Codec.SET_WRITER));
      return deflated ? ByteBuffer.wrap(Deflated.deflate(raw)) : raw;
    }
  }

  /** Writes {@code schema.name} of {@code s} in UTF-8 into {@code out}, replacing what it held. */
  private static void qualifiedName(AvroOut out, PartitionSpec s) {
    out.reset();
    out.writeUtf8(s.getSchemaName());
    out.writeByte('.');
    out.writeUtf8(s.getName());
  }

  /** Avro binary encoding of the parts of a snapshot, without the single-object header (they sit inside one). */
  private static final class Codec {
    static final SpecificDatumWriter<AggregateBody> BODY_WRITER = new SpecificDatumWriter<>(AggregateBody.class);
    static final SpecificDatumWriter<PartitionSet> SET_WRITER = new SpecificDatumWriter<>(PartitionSet.class);
    static final SpecificDatumReader<PartitionSet> SET_READER = new SpecificDatumReader<>(PartitionSet.class);
    static final SpecificDatumReader<LivePartition> LIVE_READER = new SpecificDatumReader<>(LivePartition.class);
    /** Per thread: one catalog is folded by one thread, and encoding runs once per new partition. */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static final class Scratch {
      final ByteArrayOutputStream out = new ByteArrayOutputStream(256);
      BinaryEncoder encoder;
    }

    static <T> byte[] encode(T value, SpecificDatumWriter<T> writer) {
      Scratch s = SCRATCH.get();
      s.out.reset();
      s.encoder = EncoderFactory.get().directBinaryEncoder(s.out, s.encoder);
      try {
        writer.write(value, s.encoder);
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
      return s.out.toByteArray();
    }

    static <T> T decode(ByteBuffer bytes, SpecificDatumReader<T> reader) {
      try {
        return reader.read(null, DecoderFactory.get().binaryDecoder(bytes.array(), bytes.arrayOffset() + bytes.position(),
            bytes.remaining(), null));
      } catch (IOException ex) {
        throw new UncheckedIOException("corrupt aggregate state in a snapshot", ex);
      }
    }
  }

  private final String commandsTopic;
  private final int partitionCount;
  /**
   * The aggregates of each partition. Partitions share nothing, so different threads may fold
   * different partitions at the same time (one thread per partition at a time).
   */
  private final List<Map<String, Aggregate>> byPartition;
  /** Per partition, the record being folded there. */
  private final Fold[] folds;
  private final long[] nextOffset;
  private final long[] recordsRead;
  private final long[] deadLetters;

  public PartitionCatalog(String commandsTopic, int partitionCount) {
    if (partitionCount < 1) {
      throw new IllegalArgumentException("partition count must be >= 1, got " + partitionCount);
    }
    this.commandsTopic = commandsTopic;
    this.partitionCount = partitionCount;
    this.nextOffset = new long[partitionCount];
    this.recordsRead = new long[partitionCount];
    this.deadLetters = new long[partitionCount];
    List<Map<String, Aggregate>> maps = new ArrayList<>(partitionCount);
    for (int p = 0; p < partitionCount; p++) {
      maps.add(new HashMap<>());
    }
    this.byPartition = List.copyOf(maps);
    this.folds = new Fold[partitionCount];
    for (int p = 0; p < partitionCount; p++) {
      folds[p] = new Fold();
    }
  }

  public String commandsTopic() {
    return commandsTopic;
  }

  public int partitionCount() {
    return partitionCount;
  }

  /** Every aggregate, by id (a sorted copy of the catalog's index). */
  public SortedMap<String, Aggregate> aggregates() {
    SortedMap<String, Aggregate> all = new TreeMap<>();
    byPartition.forEach(all::putAll);
    return Collections.unmodifiableSortedMap(all);
  }

  public Optional<Aggregate> aggregate(AggregateId id) {
    String key = id.toString();
    return Optional.ofNullable(byPartition.get(LogPartitioner.partitionOf(key, partitionCount)).get(key));
  }

  /** Every live partition of every aggregate, by qualified name. */
  public SortedMap<String, PartitionSpec> livePartitions() {
    SortedMap<String, PartitionSpec> out = new TreeMap<>();
    for (Aggregate a : aggregates().values()) {
      a.partitions().forEach((name, live) -> out.put(name, live.getSpec()));
    }
    return out;
  }

  /**
   * A {@code PartitionAdded} for every live partition, keyed by parent as the worker publishes it.
   * All changes of one aggregate carry one version: the offset of the aggregate's last command in
   * the log (duplicates and conflicts included, since the worker may have acted on those too). The
   * worker announces a partition with the offset of the command it executed, so this version is at
   * least any it announced: a router that ignores changes older than what it holds accepts every
   * one of them, whatever their order. The log does not carry the parent's partition key, so the
   * caller supplies it (PostgreSQL knows it).
   */
  public List<BoundaryChange> boundaryChanges(Function<String, PartitionKey> keyOfParent) {
    List<BoundaryChange> out = new ArrayList<>();
    for (Aggregate a : aggregates().values()) {
      if (a.live().entries() == 0) {
        continue;
      }
      long version = -1;
      for (HistoryEntry h : a.history.decode()) {
        if (h.getKind() == EntryKind.PROVISION_PARTITIONS || h.getKind() == EntryKind.RETIRE_PARTITIONS
            || h.getKind() == EntryKind.ROLLBACK) {
          version = Math.max(version, h.getOffset());
        }
      }
      for (LivePartition lp : a.partitions().values()) {
        PartitionSpec s = lp.getSpec();
        out.add(BoundaryChange.newBuilder()
            .setAggregateId(a.id)
            .setAggregateVersion(version)
            .setRootTable(s.getParent())
            .setChangedAt(lp.getProvisionedAt())
            .setChange(PartitionAdded.newBuilder()
                .setPartition(s.getSchemaName() + "." + s.getName())
                .setParent(s.getParent())
                .setParentKey(keyOfParent.apply(s.getParent()))
                .setBound(s.getBound())
                .setSubpartitionBy(s.getSubpartitionBy())
                .build())
            .build());
      }
    }
    return out;
  }

  /** First offset of {@code partition} the catalog has not folded. */
  public long nextOffset(int partition) {
    return nextOffset[partition];
  }

  /** Records folded, over all partitions (applied, ignored and refused). */
  public long recordsRead() {
    long sum = 0;
    for (long r : recordsRead) {
      sum += r;
    }
    return sum;
  }

  /** Records refused, over all partitions. */
  public long deadLetters() {
    long sum = 0;
    for (long d : deadLetters) {
      sum += d;
    }
    return sum;
  }

  /**
   * Folds one record of the commands topic, decoding it with {@code log} first (thread-safe, its
   * registry ids and readers cached: replay folds partitions on several threads with one serde).
   */
  public Verdict apply(ConsumerRecord<String, byte[]> record, RegistryAvroSerde<CommandLogEntry> log) {
    if (record.value() == null) {
      return refuse(record.partition(), record.offset(), "empty record (null value)");
    }
    CommandLogEntry entry;
    try {
      entry = log.decode(record.topic(), record.value());
    } catch (PayloadException e) { // a registry outage is not the record's fault: it propagates
      return refuse(record.partition(), record.offset(), "unreadable payload: " + e.getMessage());
    }
    return apply(record.partition(), record.offset(), record.key(), entry);
  }

  /** Folds one decoded record at its position in the log. */
  public Verdict apply(int partition, long offset, String key, CommandLogEntry entry) {
    if (partition < 0 || partition >= partitionCount) {
      throw new IllegalArgumentException("partition " + partition + " of " + commandsTopic + " outside 0.." + (partitionCount - 1));
    }
    String id = entry.getAggregateId();
    if (key == null || !key.equals(id)) {
      return refuse(partition, offset, "record key '" + key + "' is not the entry's aggregate '" + id + "'");
    }
    // the record's one lookup of its aggregate: everything below works on what it found
    Aggregate a = byPartition.get(partition).get(id);
    // an aggregate seen before passed these checks already: its id parses and hashes to its partition
    int owner = a != null ? a.partition : -1;
    if (a == null) {
      try {
        AggregateId.parse(id);
      } catch (IllegalArgumentException e) {
        return refuse(partition, offset, e.getMessage());
      }
      owner = LogPartitioner.partitionOf(id, partitionCount);
    }
    if (owner != partition) {
      return refuse(partition, offset, "aggregate " + id + " belongs to partition " + owner + " of " + partitionCount
          + " but the record is in partition " + partition + " (written with another partitioner or partition count)");
    }
    Object e = entry.getEntry();
    Fold f = folds[partition];
    f.start(partition, offset, entry.getRecordedAt(), id, a);
    Verdict v;
    if (e instanceof ProvisionPartitions c) {
      v = command(f, c.getHeader(), EntryKind.PROVISION_PARTITIONS, c.getPartitions(), null, c);
    } else if (e instanceof RetirePartitions c) {
      v = command(f, c.getHeader(), EntryKind.RETIRE_PARTITIONS, null, c.getPartitions(), c);
    } else if (e instanceof Rollback c) {
      v = command(f, c.getHeader(), EntryKind.ROLLBACK, null, c.getPartitions(), c);
    } else if (e instanceof Provisioned o) {
      v = provisioned(f, o);
    } else if (e instanceof Rejected o) {
      v = answeredConflict(f, o);
      if (v == null) {
        v = ended(f, o.getIdempotencyKey(), EntryKind.REJECTED, o.getCode() + ": " + o.getReason(), true, List.of());
      }
    } else if (e instanceof Failed o) {
      v = ended(f, o.getIdempotencyKey(), EntryKind.FAILED, (o.getRetryable() ? "[retryable] " : "") + o.getReason(),
          !o.getRetryable(), o.getCreated());
    } else if (e instanceof RolledBack o) {
      v = rolledBack(f, o);
    } else if (e instanceof Retired o) {
      v = retired(f, o);
    } else {
      v = refuse(partition, offset, "unknown entry type " + (e == null ? "null" : e.getClass().getName()));
    }
    f.aggregate = null;
    if (!(v instanceof Refused)) {
      recordsRead[partition]++;
      nextOffset[partition] = Math.max(nextOffset[partition], offset + 1);
    }
    return v;
  }

  /**
   * The record being folded in one partition: where it is, its aggregate (looked up once), and
   * buffers for the UTF-8 of its idempotency key and of partition names, reused from record to
   * record. One per partition, since partitions are folded on different threads.
   */
  private static final class Fold {
    final AvroOut key = new AvroOut(64);
    final AvroOut name = new AvroOut(64);
    int partition;
    long offset;
    Instant at;
    String id;
    /** The record's aggregate; null when the log has not mentioned it before. */
    Aggregate aggregate;

    void start(int partition, long offset, Instant at, String id, Aggregate aggregate) {
      this.partition = partition;
      this.offset = offset;
      this.at = at;
      this.id = id;
      this.aggregate = aggregate;
    }

    /** Encodes the record's idempotency key into {@link #key}. */
    void key(String idempotencyKey) {
      key.reset();
      key.writeUtf8(idempotencyKey);
    }
  }

  private Verdict command(Fold f, CommandHeader h, EntryKind kind, List<PartitionSpec> specs, List<String> names,
      Object command) {
    if (!f.id.equals(h.getAggregateId())) {
      return refuse(f.partition, f.offset, kind + " " + h.getIdempotencyKey() + " names aggregate " + h.getAggregateId()
          + " in its header but was appended to " + f.id);
    }
    Aggregate a = f.aggregate;
    if (a == null) {
      a = new Aggregate(f.id, f.partition, new History(), null, null);
      byPartition.get(f.partition).put(f.id, a);
      f.aggregate = a;
    }
    a.decoded();
    String key = h.getIdempotencyKey();
    f.key(key);
    long original = a.commandOffset(f.key.array(), f.key.size());
    if (original >= 0) {
      record(f, kind, EntryVerdict.DUPLICATE, h.getIssuedBy(), "duplicate of the command at offset " + original, specs,
          names);
      return new Duplicate(original, a.version);
    }
    long expected = h.getExpectedVersion();
    if (expected >= 0 && expected != a.version) {
      record(f, kind, EntryVerdict.VERSION_CONFLICT, h.getIssuedBy(), "expected version " + expected
          + ", aggregate was at " + a.version, specs, names);
      return new Conflict(expected, a.version);
    }
    a.version++;
    a.addCommand(f.key.array(), f.key.size(), f.offset);
    a.pending.put(key, new PendingCommand(f.offset, command));
    record(f, kind, EntryVerdict.APPLIED, h.getIssuedBy(), h.getReason(), specs, names);
    return new Applied(a.version);
  }

  /**
   * Appends a history entry for the record, with its idempotency key (in {@code f.key}), naming
   * the partitions of a spec list or a list of names.
   */
  private static void record(Fold f, EntryKind kind, EntryVerdict verdict, String actor, String reason,
      List<PartitionSpec> specs, List<String> names) {
    Aggregate a = f.aggregate;
    int count = (specs == null ? 0 : specs.size()) + (names == null ? 0 : names.size());
    a.history.begin(f.offset, f.at, kind, verdict, f.key.array(), f.key.size(), actor, reason, count);
    if (specs != null) {
      for (PartitionSpec s : specs) {
        qualifiedName(f.name, s);
        a.history.partition(f.name.array(), f.name.size());
      }
    }
    if (names != null) {
      for (String n : names) {
        a.history.partition(n);
      }
    }
    a.history.end(a.version);
  }

  private Verdict provisioned(Fold f, Provisioned o) {
    String key = o.getIdempotencyKey();
    Verdict unknown = unknownCommand(f, "Provisioned", key);
    if (unknown != null) {
      return unknown;
    }
    Aggregate a = f.aggregate;
    String what = "created " + o.getCreated().size() + ", already present " + o.getAlreadyPresent().size();
    PendingCommand p = a.pending.get(key);
    if (p == null) {
      record(f, EntryKind.PROVISIONED, EntryVerdict.DUPLICATE, o.getWorker(), what + "; command already answered",
          o.getCreated(), null);
      return new Duplicate(a.commandOffset(f.key.array(), f.key.size()), a.version);
    }
    if (!(p.getCommand() instanceof ProvisionPartitions)) {
      return refuse(f.partition, f.offset, "Provisioned answers " + key + ", which is a "
          + p.getCommand().getClass().getSimpleName() + " of " + f.id);
    }
    a.pending.remove(key);
    addAllIfAbsent(f, o.getCreated(), p.getOffset());
    addAllIfAbsent(f, o.getAlreadyPresent(), p.getOffset());
    a.version++;
    // the partitions it created; those already present are named by the command's own entry
    record(f, EntryKind.PROVISIONED, EntryVerdict.APPLIED, o.getWorker(), what, o.getCreated(), null);
    return new Applied(a.version);
  }

  private static void addAllIfAbsent(Fold f, List<PartitionSpec> specs, long commandOffset) {
    for (PartitionSpec s : specs) {
      qualifiedName(f.name, s);
      f.aggregate.addIfAbsent(f.name, s, f.key.array(), f.key.size(), commandOffset, f.at);
    }
  }

  /**
   * {@code Rejected} or {@code Failed}: ends the command when {@code final_}. Partitions a failed
   * command created before it failed ({@code created}: earlier transactions of it committed) exist in
   * the database, so they become live like those of a {@code Provisioned}.
   */
  private Verdict ended(Fold f, String key, EntryKind kind, String reason, boolean final_, List<PartitionSpec> created) {
    Verdict unknown = unknownCommand(f, kind.name(), key);
    if (unknown != null) {
      return unknown;
    }
    Aggregate a = f.aggregate;
    PendingCommand p = a.pending.get(key);
    if (p == null) {
      record(f, kind, EntryVerdict.DUPLICATE, "", reason + "; command already answered", null, null);
      return new Duplicate(a.commandOffset(f.key.array(), f.key.size()), a.version);
    }
    if (!created.isEmpty() && !(p.getCommand() instanceof ProvisionPartitions)) {
      return refuse(f.partition, f.offset, kind + " lists created partitions but answers " + key + ", which is a "
          + p.getCommand().getClass().getSimpleName() + " of " + f.id);
    }
    if (final_) {
      a.pending.remove(key);
    }
    addAllIfAbsent(f, created, p.getOffset());
    a.version++;
    record(f, kind, EntryVerdict.APPLIED, "", created.isEmpty() ? reason
        : reason + "; created before the failure: " + created.size(), created.isEmpty() ? null : created, null);
    return new Applied(a.version);
  }

  private Verdict rolledBack(Fold f, RolledBack o) {
    String key = o.getIdempotencyKey();
    Verdict unknown = unknownCommand(f, "RolledBack", key);
    if (unknown != null) {
      return unknown;
    }
    Aggregate a = f.aggregate;
    a.pending.remove(key);
    // a Rollback command is answered by the RolledBack of the command it targets
    for (Iterator<PendingCommand> it = a.pending.values().iterator(); it.hasNext(); ) {
      if (it.next().getCommand() instanceof Rollback r && r.getTargetIdempotencyKey().equals(key)) {
        it.remove();
      }
    }
    o.getDropped().forEach(name -> a.drop(name, f.name));
    a.version++;
    record(f, EntryKind.ROLLED_BACK, EntryVerdict.APPLIED, "", o.getReason(), null, o.getDropped());
    return new Applied(a.version);
  }

  private Verdict retired(Fold f, Retired o) {
    String key = o.getIdempotencyKey();
    Verdict unknown = unknownCommand(f, "Retired", key);
    if (unknown != null) {
      return unknown;
    }
    Aggregate a = f.aggregate;
    PendingCommand p = a.pending.get(key);
    if (p == null) {
      record(f, EntryKind.RETIRED, EntryVerdict.DUPLICATE, o.getWorker(), "command already answered", null,
          o.getRetired());
      return new Duplicate(a.commandOffset(f.key.array(), f.key.size()), a.version);
    }
    if (!(p.getCommand() instanceof RetirePartitions)) {
      return refuse(f.partition, f.offset, "Retired answers " + key + ", which is a "
          + p.getCommand().getClass().getSimpleName() + " of " + f.id);
    }
    a.pending.remove(key);
    o.getRetired().forEach(name -> a.drop(name, f.name));
    a.version++;
    record(f, EntryKind.RETIRED, EntryVerdict.APPLIED, o.getWorker(),
        o.getArchivedTo() == null ? "dropped" : "archived to " + o.getArchivedTo(), null, o.getRetired());
    return new Applied(a.version);
  }

  /**
   * A {@code Rejected} answering a command the fold refused as a version conflict (the worker says
   * so rather than leave it unanswered): recorded with verdict VERSION_CONFLICT, no effect; the
   * verdict is a {@link Duplicate} of the conflicting command. Null when it answers something else.
   * Scans the history, but only for a key the aggregate never applied, which is rare.
   */
  private Verdict answeredConflict(Fold f, Rejected o) {
    String key = o.getIdempotencyKey();
    Aggregate a = f.aggregate;
    if (a == null) {
      return null;
    }
    f.key(key);
    if (a.decoded().commandOffset(f.key.array(), f.key.size()) >= 0) {
      return null;
    }
    for (HistoryEntry h : a.history.decode()) {
      if (h.getVerdict() == EntryVerdict.VERSION_CONFLICT && h.getIdempotencyKey().equals(key)
          && (h.getKind() == EntryKind.PROVISION_PARTITIONS || h.getKind() == EntryKind.RETIRE_PARTITIONS
              || h.getKind() == EntryKind.ROLLBACK)) {
        record(f, EntryKind.REJECTED, EntryVerdict.VERSION_CONFLICT, "", o.getCode() + ": " + o.getReason(), null, null);
        return new Duplicate(h.getOffset(), a.version); // no effect, like a repeated answer
      }
    }
    return null;
  }

  /** Refuses an outcome whose aggregate lacks its command; otherwise leaves the key's UTF-8 in {@code f.key}. */
  private Verdict unknownCommand(Fold f, String outcome, String key) {
    f.key(key);
    Aggregate a = f.aggregate;
    if (a == null || a.decoded().commandOffset(f.key.array(), f.key.size()) < 0) {
      return refuse(f.partition, f.offset, outcome + " answers command " + key + ", which aggregate " + f.id
          + " never received (broken order)");
    }
    return null;
  }

  private Refused refuse(int partition, long offset, String reason) {
    recordsRead[partition]++;
    deadLetters[partition]++;
    nextOffset[partition] = Math.max(nextOffset[partition], offset + 1);
    return new Refused(reason);
  }

  /** Forgets everything folded of {@code partition}, so it can be rebuilt (restored, folded again). */
  void clear(int partition) {
    byPartition.get(partition).clear();
    nextOffset[partition] = 0;
    recordsRead[partition] = 0;
    deadLetters[partition] = 0;
  }

  /**
   * Moves {@code partition}'s position to {@code next} after the reader has passed records that are
   * not data (transaction markers, aborted records): the catalog covers the log up to there.
   */
  void advance(int partition, long next) {
    nextOffset[partition] = Math.max(nextOffset[partition], next);
  }

  /** The state of {@code partition}'s aggregates, ready for the snapshots topic (history and partitions compressed). */
  public CatalogSnapshot snapshot(int partition, Instant takenAt) {
    return snapshot(partition, takenAt, true);
  }

  private CatalogSnapshot snapshot(int partition, Instant takenAt, boolean deflated) {
    List<AggregateState> states = new ArrayList<>();
    for (Aggregate a : new TreeMap<>(byPartition.get(partition)).values()) {
      states.add(new AggregateState(a.id, a.version, a.encodedBody(), a.partitionsBytes(deflated), a.history.count(),
          deflated ? a.history.deflated() : a.history.encoded()));
    }
    return new CatalogSnapshot(commandsTopic, partition, nextOffset[partition], FOLD_VERSION, takenAt,
        recordsRead[partition], deadLetters[partition], states);
  }

  /**
   * Loads a snapshot of one partition into a catalog that has folded nothing of that partition yet.
   * Aggregates stay encoded until read or folded.
   *
   * @throws IllegalArgumentException when the snapshot is of another topic, fold version or partition count
   */
  public void restore(CatalogSnapshot s) {
    if (!s.getCommandsTopic().equals(commandsTopic) || s.getFoldVersion() != FOLD_VERSION
        || s.getPartition() < 0 || s.getPartition() >= partitionCount) {
      throw new IllegalArgumentException("snapshot of " + s.getCommandsTopic() + "-" + s.getPartition() + " (fold version "
          + s.getFoldVersion() + ") does not fit this catalog of " + commandsTopic + " (" + partitionCount
          + " partitions, fold version " + FOLD_VERSION + ")");
    }
    int p = s.getPartition();
    if (recordsRead[p] != 0) {
      throw new IllegalStateException("partition " + p + " of " + commandsTopic + " already has folded records");
    }
    for (AggregateState st : s.getAggregates()) {
      // the snapshot's buffers are kept, not copied: aggregates the tail never touches stay as they are
      Aggregate a = new Aggregate(st.getAggregateId(), p, History.ofDeflated(st.getHistory(), st.getHistoryCount()),
          heap(st.getBody()), heap(st.getPartitions()));
      a.version = st.getVersion();
      byPartition.get(p).put(a.id, a);
    }
    nextOffset[p] = s.getNextOffset();
    recordsRead[p] = s.getRecordsRead();
    deadLetters[p] = s.getDeadLetters();
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static ByteBuffer heap(ByteBuffer b) {
    return b.hasArray() ? b : ByteBuffer.wrap(bytes(b));
  }

  /**
   * The whole catalog in one canonical byte form: every partition's snapshot (taken at the epoch, so
   * no clock gets in; nothing compressed, so no compressor gets in either), Avro binary, in partition
   * order, aggregates by id, partitions by name. Two catalogs are equal exactly when these bytes are.
   */
  public byte[] canonicalBytes() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    SpecificDatumWriter<CatalogSnapshot> writer = new SpecificDatumWriter<>(CatalogSnapshot.class);
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      for (int p = 0; p < partitionCount; p++) {
        writer.write(snapshot(p, Instant.EPOCH, false), e);
      }
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return out.toByteArray();
  }

  static String keyOf(Object command) {
    return headerOf(command).getIdempotencyKey();
  }

  static CommandHeader headerOf(Object command) {
    if (command instanceof ProvisionPartitions c) {
      return c.getHeader();
    } else if (command instanceof RetirePartitions c) {
      return c.getHeader();
    } else if (command instanceof Rollback c) {
      return c.getHeader();
    }
    throw new IllegalArgumentException("not a command: " + (command == null ? "null" : command.getClass().getName()));
  }

  /** Replays the whole log (committed records only) as of now, from the latest snapshots plus the tail. */
  public static PartitionCatalog replay(CommandStoreConfig config) {
    return CatalogReplay.fromSnapshots(config, CatalogReplay.Progress.NONE).catalog();
  }
}
