package dev.partwright.connectors.postgres;

/** A relation name that is safe to put into SQL text as it is. */
public interface SqlName {

  /** The name as SQL text: schema-qualified and quoted. */
  String sql();
}
