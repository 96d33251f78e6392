package dev.partwright.schemas;

import java.util.Optional;
import java.util.OptionalInt;
import org.apache.kafka.common.KafkaException;

/**
 * A schema registry request failed: the registry is unreachable, refused the request, or answered
 * something that is not the Confluent API. Not a payload problem (records are not dead-lettered
 * for it): fix the registry or its configuration, or retry when {@link #retriable()}.
 */
public final class SchemaRegistryException extends KafkaException {

  private static final long serialVersionUID = 1L;

  /** Confluent API error code: subject not found. */
  public static final int SUBJECT_NOT_FOUND = 40401;
  /** Confluent API error code: version not found. */
  public static final int VERSION_NOT_FOUND = 40402;
  /** Confluent API error code: schema (id) not found. */
  public static final int SCHEMA_NOT_FOUND = 40403;

  private final String url;
  private final String request;
  private final String subject;
  private final int status;
  private final int errorCode;
  private final String registryMessage;

  SchemaRegistryException(String url, String request, String subject, int status, int errorCode,
      String registryMessage, Throwable cause) {
    super(message(url, request, subject, status, errorCode, registryMessage), cause);
    this.url = url;
    this.request = request;
    this.subject = subject;
    this.status = status;
    this.errorCode = errorCode;
    this.registryMessage = registryMessage;
  }

  private static String message(String url, String request, String subject, int status, int errorCode, String said) {
    StringBuilder m = new StringBuilder("schema registry ").append(url).append(": ").append(request);
    if (subject != null) {
      m.append(" (subject ").append(subject).append(')');
    }
    m.append(status < 0 ? " got no answer" : " answered HTTP " + status);
    if (errorCode > 0) {
      m.append(", error ").append(errorCode);
    }
    if (said != null && !said.isBlank()) {
      m.append(": ").append(said);
    }
    return m.toString();
  }

  /** The registry URL tried last (never with credentials). */
  public String url() {
    return url;
  }

  /** Method and path, e.g. {@code POST /subjects/partwright.boundaries-value/versions}. */
  public String request() {
    return request;
  }

  public Optional<String> subject() {
    return Optional.ofNullable(subject);
  }

  /** The HTTP status; empty when no answer came (connection refused, timeout, TLS failure). */
  public OptionalInt status() {
    return status < 0 ? OptionalInt.empty() : OptionalInt.of(status);
  }

  /** The Confluent API {@code error_code} (e.g. {@value #SCHEMA_NOT_FOUND}), when the registry gave one. */
  public OptionalInt errorCode() {
    return errorCode <= 0 ? OptionalInt.empty() : OptionalInt.of(errorCode);
  }

  /** What the registry said ({@code message} of its error body), or why there was no answer. */
  public String registryMessage() {
    return registryMessage;
  }

  /** Whether the same request may succeed later: no answer, 408, 429 or a 5xx. */
  public boolean retriable() {
    return status < 0 || status == 408 || status == 429 || status >= 500;
  }
}
