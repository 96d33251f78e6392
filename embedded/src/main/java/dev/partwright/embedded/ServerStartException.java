package dev.partwright.embedded;

/**
 * A server could not be started or reached. The message is meant for an operator (the CLI prints
 * it instead of a stack trace): it names the server, what was tried and why it failed.
 */
public class ServerStartException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String server;
    private final String target;

    /**
     * @param server  {@code "kafka"} or {@code "postgres"}
     * @param target  what was tried: a bootstrap address, a JDBC URL (without password), a port or a directory
     * @param message the full operator-facing message
     * @param cause   the underlying failure, may be {@code null}
     */
    public ServerStartException(String server, String target, String message, Throwable cause) {
        super(message, cause);
        this.server = server;
        this.target = target;
    }

    public ServerStartException(String server, String target, String message) {
        this(server, target, message, null);
    }

    /** {@code "kafka"} or {@code "postgres"}. */
    public String server() {
        return server;
    }

    /** What was tried: bootstrap servers, JDBC URL (never with a password), port or data directory. */
    public String target() {
        return target;
    }
}
