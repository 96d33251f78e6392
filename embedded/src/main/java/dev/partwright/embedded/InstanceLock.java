package dev.partwright.embedded;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * An OS file lock held by the JVM that runs an embedded server, in {@code <dir>/.partwright.lock}.
 * The OS drops it when the JVM dies, even by SIGKILL, so a later JVM can recognise the temporary
 * directories of dead JVMs ({@link #reapStale}) and clean them up, including an orphaned postmaster.
 */
final class InstanceLock implements AutoCloseable {

    static final String FILE = ".partwright.lock";
    private static final Duration GRACE = Duration.ofSeconds(30);

    private final FileChannel channel;
    private final FileLock lock;

    private InstanceLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Locks {@code dir}; returns {@code null} if another live process holds it. */
    static InstanceLock acquire(Path dir) throws IOException {
        FileChannel ch = FileChannel.open(dir.resolve(FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            FileLock l = ch.tryLock();
            if (l == null) {
                ch.close();
                return null;
            }
            return new InstanceLock(ch, l);
        } catch (OverlappingFileLockException e) {
            ch.close();
            return null; // held by this JVM
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException | RuntimeException ignored) {
            // closing the channel releases it anyway
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing left to do
        }
    }

    /**
     * Deletes {@code <tmpdir>/<prefix>*} directories whose lock file exists, is older than a short
     * grace period and is not held by any live process; {@code beforeDelete} may stop what they left running.
     */
    static void reapStale(String prefix, Consumer<Path> beforeDelete) {
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(tmp, prefix + "*")) {
            for (Path dir : dirs) {
                Path lockFile = dir.resolve(FILE);
                try {
                    if (!Files.isDirectory(dir) || !Files.exists(lockFile)
                            || Files.getLastModifiedTime(lockFile).toInstant().isAfter(Instant.now().minus(GRACE))) {
                        continue;
                    }
                    InstanceLock stale = acquire(dir);
                    if (stale == null) {
                        continue; // its JVM is alive
                    }
                    try (stale) {
                        beforeDelete.accept(dir);
                        Support.deleteRecursively(dir);
                    }
                } catch (IOException | RuntimeException e) {
                    // someone else is reaping it, or it vanished: fine
                }
            }
        } catch (IOException | RuntimeException e) {
            // cleanup is best effort
        }
    }
}
