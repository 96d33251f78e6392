package dev.partwright.router;

import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Unbounded;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads the text {@code pg_get_expr(relpartbound, oid)} prints ({@code FOR VALUES FROM (..) TO (..)},
 * {@code FOR VALUES IN (..)}, {@code FOR VALUES WITH (modulus m, remainder r)}, {@code DEFAULT}) into the
 * bound records of the boundary contract. Literals are quoted ({@code '2024-01-01 00:00:00+00'},
 * {@code '-5'}, {@code 'it''s'}) or bare (positive integers, MINVALUE, MAXVALUE, NULL); their text is
 * converted with the key column's type, so the session must print ISO dates in UTC.
 */
final class BoundExpression {

  private final String text;
  private final String partition;
  private int pos;

  private BoundExpression(String text, String partition) {
    this.text = text;
    this.partition = partition;
  }

  /** A literal: its text and whether it was quoted (a quoted NULL is the text 'NULL'). */
  private record Literal(String text, boolean quoted) {}

  static Object parse(String partition, String expression, KeyColumn[] columns) {
    return new BoundExpression(expression, partition).bound(columns);
  }

  private Object bound(KeyColumn[] columns) {
    String first = word();
    if (first.equals("DEFAULT")) {
      end();
      return new DefaultBound();
    }
    expectWord("FOR", first);
    expectWord("VALUES", word());
    String kind = word();
    switch (kind) {
      case "FROM" -> {
        List<Object> from = values(columns, true);
        expectWord("TO", word());
        List<Object> to = values(columns, true);
        end();
        return new RangeBound(from, to);
      }
      case "IN" -> {
        List<Literal> literals = literals();
        end();
        List<Object> values = new ArrayList<>();
        boolean includesNull = false;
        for (Literal l : literals) {
          if (!l.quoted() && l.text().equalsIgnoreCase("NULL")) {
            includesNull = true;
          } else {
            values.add(columns[0].toBound(columns[0].parse(l.text())));
          }
        }
        return new ListBound(values, includesNull);
      }
      case "WITH" -> {
        List<Literal> literals = literals();
        end();
        int modulus = -1;
        int remainder = -1;
        for (Literal l : literals) {
          String[] kv = l.text().trim().split("\\s+");
          if (kv.length == 2 && kv[0].equalsIgnoreCase("modulus")) {
            modulus = Integer.parseInt(kv[1]);
          } else if (kv.length == 2 && kv[0].equalsIgnoreCase("remainder")) {
            remainder = Integer.parseInt(kv[1]);
          }
        }
        if (modulus < 1 || remainder < 0) {
          throw fail("no modulus / remainder");
        }
        return new HashBound(modulus, remainder);
      }
      default -> throw fail("unexpected " + kind);
    }
  }

  private List<Object> values(KeyColumn[] columns, boolean range) {
    List<Literal> literals = literals();
    if (literals.size() != columns.length) {
      throw fail(literals.size() + " values for a " + columns.length + "-column key");
    }
    List<Object> out = new ArrayList<>();
    for (int i = 0; i < literals.size(); i++) {
      Literal l = literals.get(i);
      String upper = l.text().toUpperCase(Locale.ROOT);
      if (range && !l.quoted() && upper.equals("MINVALUE")) {
        out.add(Unbounded.MINVALUE);
      } else if (range && !l.quoted() && upper.equals("MAXVALUE")) {
        out.add(Unbounded.MAXVALUE);
      } else {
        out.add(columns[i].toBound(columns[i].parse(l.text())));
      }
    }
    return out;
  }

  /** {@code ( item, item, ... )}; inside WITH (..) an item is {@code modulus 4}, kept as one bare literal. */
  private List<Literal> literals() {
    skipSpace();
    expect('(');
    List<Literal> out = new ArrayList<>();
    while (true) {
      skipSpace();
      if (peek() == '\'') {
        out.add(new Literal(quoted(), true));
      } else {
        int start = pos;
        while (pos < text.length() && text.charAt(pos) != ',' && text.charAt(pos) != ')') {
          pos++;
        }
        out.add(new Literal(text.substring(start, pos).trim(), false));
      }
      skipSpace();
      char c = next();
      if (c == ')') {
        return out;
      }
      if (c != ',') {
        throw fail("expected , or )");
      }
    }
  }

  private String quoted() {
    expect('\'');
    StringBuilder out = new StringBuilder();
    while (true) {
      if (pos >= text.length()) {
        throw fail("unterminated literal");
      }
      char c = text.charAt(pos++);
      if (c == '\'') {
        if (pos < text.length() && text.charAt(pos) == '\'') {
          out.append('\'');
          pos++;
        } else {
          break;
        }
      } else {
        out.append(c);
      }
    }
    // decoration PostgreSQL may print after a literal ('x'::text, COLLATE "C"): not part of the value
    while (pos < text.length() && text.charAt(pos) != ',' && text.charAt(pos) != ')') {
      pos++;
    }
    return out.toString();
  }

  private String word() {
    skipSpace();
    int start = pos;
    while (pos < text.length() && Character.isLetter(text.charAt(pos))) {
      pos++;
    }
    return text.substring(start, pos).toUpperCase(Locale.ROOT);
  }

  private void expectWord(String expected, String actual) {
    if (!expected.equals(actual)) {
      throw fail("expected " + expected + ", found " + actual);
    }
  }

  private void end() {
    skipSpace();
    if (pos != text.length()) {
      throw fail("trailing text");
    }
  }

  private void skipSpace() {
    while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
      pos++;
    }
  }

  private char peek() {
    return pos < text.length() ? text.charAt(pos) : 0;
  }

  private char next() {
    if (pos >= text.length()) {
      throw fail("unexpected end");
    }
    return text.charAt(pos++);
  }

  private void expect(char c) {
    if (next() != c) {
      throw fail("expected " + c);
    }
  }

  private IllegalArgumentException fail(String why) {
    return new IllegalArgumentException("cannot read the bound of " + partition + " at offset " + pos + " (" + why + "): " + text);
  }
}
