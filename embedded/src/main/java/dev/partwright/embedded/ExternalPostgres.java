package dev.partwright.embedded;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import javax.sql.DataSource;

/**
 * An existing PostgreSQL server, reached by URL. Connectivity is checked on creation.
 *
 * <p>Accepted URLs:
 * <ul>
 *   <li>{@code jdbc:postgresql://host:port/db[?user=..&password=..&other=..]}</li>
 *   <li>{@code postgresql://user:pass@host:port/db[?params]} or {@code postgres://...} (libpq URI),
 *       converted to the JDBC form</li>
 * </ul>
 * Credentials inside the URL win; otherwise they come from {@code PARTWRIGHT_DB_USER} /
 * {@code PARTWRIGHT_DB_PASSWORD} (or the system properties {@code partwright.db.user} /
 * {@code partwright.db.password}). {@link #jdbcUrl()} never contains the credentials.
 */
public final class ExternalPostgres implements PostgresEndpoint {

    public static final String URL_ENV = "PARTWRIGHT_DB_URL";
    public static final String URL_PROPERTY = "partwright.db.url";
    public static final String USER_ENV = "PARTWRIGHT_DB_USER";
    public static final String USER_PROPERTY = "partwright.db.user";
    public static final String PASSWORD_ENV = "PARTWRIGHT_DB_PASSWORD";
    public static final String PASSWORD_PROPERTY = "partwright.db.password";

    private static final int CONNECT_TIMEOUT_SECONDS = 5;

    private final String jdbcUrl;
    private final String user;
    private final String password;
    private final LazyPool pool;

    private ExternalPostgres(Parsed parsed) {
        this.jdbcUrl = parsed.jdbcUrl;
        this.user = parsed.user;
        this.password = parsed.password;
        this.pool = new LazyPool("partwright-external-pg", jdbcUrl, user, password);
    }

    /**
     * Uses {@code PARTWRIGHT_DB_URL} (or {@code -Dpartwright.db.url}).
     *
     * @throws ServerStartException if it is unset or the server cannot be reached
     */
    public static ExternalPostgres fromEnvironment() {
        String url = Support.setting(URL_PROPERTY, URL_ENV);
        if (url == null) {
            throw new ServerStartException("postgres", "",
                    "no external PostgreSQL configured: set " + URL_ENV + " (or -D" + URL_PROPERTY + ")");
        }
        return connect(url);
    }

    /** Connects using the URL, with credentials from the URL or from the environment. */
    public static ExternalPostgres connect(String url) {
        return connect(url, null, null);
    }

    /**
     * Connects with explicit credentials ({@code null} = take them from the URL, else the environment).
     *
     * @throws ServerStartException with a message such as
     *         {@code cannot connect to PostgreSQL at jdbc:postgresql://127.0.0.1:1/db: connection refused}
     */
    public static ExternalPostgres connect(String url, String user, String password) {
        Parsed parsed = parse(url, user, password);
        check(parsed);
        return new ExternalPostgres(parsed);
    }

    @Override
    public String jdbcUrl() {
        return jdbcUrl;
    }

    @Override
    public String user() {
        return user;
    }

    @Override
    public String password() {
        return password;
    }

    @Override
    public DataSource dataSource() {
        return pool.get();
    }

    @Override
    public boolean embedded() {
        return false;
    }

    /** Closes the pool; the server is not ours to stop. */
    @Override
    public void close() {
        pool.close();
    }

    @Override
    public String toString() {
        return "ExternalPostgres[" + jdbcUrl + ", user " + user + "]";
    }

    // ------------------------------------------------------------------------------------------

    private static void check(Parsed p) {
        Properties props = new Properties();
        props.setProperty("user", p.user);
        props.setProperty("password", p.password);
        props.setProperty("connectTimeout", String.valueOf(CONNECT_TIMEOUT_SECONDS));
        props.setProperty("loginTimeout", String.valueOf(2 * CONNECT_TIMEOUT_SECONDS));
        props.setProperty("socketTimeout", String.valueOf(4 * CONNECT_TIMEOUT_SECONDS));
        try (Connection c = DriverManager.getConnection(p.jdbcUrl, props); Statement s = c.createStatement()) {
            s.execute("select 1");
        } catch (SQLException e) {
            throw new ServerStartException("postgres", p.jdbcUrl,
                    "cannot connect to PostgreSQL at " + p.jdbcUrl + ": " + reason(e, p.user), e);
        }
    }

    private static String reason(SQLException e, String user) {
        String state = e.getSQLState() == null ? "" : e.getSQLState();
        switch (state) {
            case "28P01":
            case "28000":
                return "authentication failed for user \"" + user + "\" (check the password / "
                        + USER_ENV + " / " + PASSWORD_ENV + ")";
            case "3D000":
                return "database does not exist (" + firstLine(e.getMessage()) + ")";
            case "53300":
                return "too many connections";
            case "57P03":
                return "server is starting up or shutting down";
            default:
                break;
        }
        if (e.getCause() != null) {
            return Support.networkReason(e.getCause());
        }
        return firstLine(e.getMessage());
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    // ---- URL parsing --------------------------------------------------------------------------

    /** A JDBC URL without credentials, plus the credentials. */
    static final class Parsed {
        final String jdbcUrl;
        final String user;
        final String password;

        Parsed(String jdbcUrl, String user, String password) {
            this.jdbcUrl = jdbcUrl;
            this.user = user;
            this.password = password;
        }
    }

    static Parsed parse(String url, String explicitUser, String explicitPassword) {
        if (url == null || url.isBlank()) {
            throw new ServerStartException("postgres", "", "PostgreSQL URL is empty (" + URL_ENV + ")");
        }
        url = url.trim();
        String urlUser = null;
        String urlPassword = null;
        String hostsAndDb;
        String query;

        String rest;
        if (url.startsWith("jdbc:postgresql:")) {
            rest = url.substring("jdbc:postgresql:".length());
            if (!rest.startsWith("//")) {
                throw badUrl(url, "expected jdbc:postgresql://host:port/database");
            }
            rest = rest.substring(2);
        } else if (url.startsWith("postgresql://") || url.startsWith("postgres://")) {
            rest = url.substring(url.indexOf("://") + 3);
            int at = rest.lastIndexOf('@', rest.indexOf('/') < 0 ? rest.length() : rest.indexOf('/'));
            if (at >= 0) {
                String userInfo = rest.substring(0, at);
                rest = rest.substring(at + 1);
                int colon = userInfo.indexOf(':');
                urlUser = decode(colon < 0 ? userInfo : userInfo.substring(0, colon));
                urlPassword = colon < 0 ? null : decode(userInfo.substring(colon + 1));
            }
        } else {
            throw badUrl(url, "expected jdbc:postgresql://host:port/database or postgresql://user:password@host:port/database");
        }

        int q = rest.indexOf('?');
        hostsAndDb = q < 0 ? rest : rest.substring(0, q);
        query = q < 0 ? "" : rest.substring(q + 1);

        int slash = hostsAndDb.indexOf('/');
        String hosts = slash < 0 ? hostsAndDb : hostsAndDb.substring(0, slash);
        String db = slash < 0 ? "" : hostsAndDb.substring(slash + 1);
        if (hosts.isEmpty()) {
            hosts = "localhost";
        }

        List<String> kept = new ArrayList<>();
        for (String param : query.split("&")) {
            if (param.isEmpty()) {
                continue;
            }
            int eq = param.indexOf('=');
            String key = eq < 0 ? param : param.substring(0, eq);
            String value = eq < 0 ? "" : decode(param.substring(eq + 1));
            if (key.equals("user")) {
                urlUser = value;
            } else if (key.equals("password")) {
                urlPassword = value;
            } else {
                kept.add(param);
            }
        }

        String user = explicitUser != null ? explicitUser
                : urlUser != null ? urlUser
                : Support.setting(USER_PROPERTY, USER_ENV);
        String password = explicitPassword != null ? explicitPassword
                : urlPassword != null ? urlPassword
                : Support.setting(PASSWORD_PROPERTY, PASSWORD_ENV);
        if (user == null) {
            user = "postgres";
        }
        if (password == null) {
            password = "";
        }
        if (db.isEmpty()) {
            db = url.startsWith("jdbc:") ? "postgres" : user; // libpq: database defaults to the user name
        }
        String jdbc = "jdbc:postgresql://" + hosts + "/" + db + (kept.isEmpty() ? "" : "?" + String.join("&", kept));
        return new Parsed(jdbc, user, password);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    private static ServerStartException badUrl(String url, String expected) {
        String shown = url.replaceAll("(?i)(password=)[^&]*", "$1***").replaceAll("://([^:/@]*):[^@/]*@", "://$1:***@");
        return new ServerStartException("postgres", shown,
                "cannot connect to PostgreSQL: unsupported URL '" + shown + "' (" + expected + ")");
    }
}
