package dev.partwright.commandstore;

/** Something the command store could not do; subclasses carry the facts. */
public class CommandStoreException extends RuntimeException {

  public CommandStoreException(String message) {
    super(message);
  }

  public CommandStoreException(String message, Throwable cause) {
    super(message, cause);
  }
}
