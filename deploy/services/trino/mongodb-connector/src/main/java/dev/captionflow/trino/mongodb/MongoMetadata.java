package dev.captionflow.trino.mongodb;

import com.mongodb.client.MongoClient;
import io.airlift.slice.Slice;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.ColumnHandle;
import io.trino.spi.connector.ColumnMetadata;
import io.trino.spi.connector.ConnectorMetadata;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.connector.ConnectorTableHandle;
import io.trino.spi.connector.ConnectorTableMetadata;
import io.trino.spi.connector.ConnectorTableVersion;
import io.trino.spi.connector.SchemaTableName;
import io.trino.spi.connector.SchemaTablePrefix;
import io.trino.spi.connector.Constraint;
import io.trino.spi.connector.ConstraintApplicationResult;
import io.trino.spi.predicate.Domain;
import io.trino.spi.predicate.TupleDomain;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

import static io.trino.spi.StandardErrorCode.AMBIGUOUS_NAME;
import static io.trino.spi.StandardErrorCode.NOT_SUPPORTED;

/**
 * Schemas are the server's databases, tables the declared collections that exist in them,
 * columns the declared fields. Trino hands us lower-cased names; the exact MongoDB names are
 * found by a case-insensitive match and kept in the handles. No writes. Only equality on varchar
 * columns is pushed down, and Trino re-checks every predicate on the rows it reads.
 */
final class MongoMetadata
        implements ConnectorMetadata
{
    private static final Set<String> SYSTEM_DATABASES = Set.of("admin", "local", "config");

    private final MongoClient client;
    private final DeclaredSchema schema;
    private final ColumnTypes types;

    MongoMetadata(MongoClient client, DeclaredSchema schema, ColumnTypes types)
    {
        this.client = client;
        this.schema = schema;
        this.types = types;
    }

    @Override
    public List<String> listSchemaNames(ConnectorSession session)
    {
        return databases().stream().map(MongoMetadata::lower).distinct().sorted().toList();
    }

    @Override
    public ConnectorTableHandle getTableHandle(ConnectorSession session, SchemaTableName name, Optional<ConnectorTableVersion> startVersion, Optional<ConnectorTableVersion> endVersion)
    {
        if (startVersion.isPresent() || endVersion.isPresent()) {
            throw new TrinoException(NOT_SUPPORTED, "MongoDB tables have no versions");
        }
        return database(name.getSchemaName())
                .flatMap(db -> collection(db, name.getTableName()).map(coll -> new MongoTableHandle(db, coll)))
                .orElse(null);
    }

    @Override
    public ConnectorTableMetadata getTableMetadata(ConnectorSession session, ConnectorTableHandle table)
    {
        MongoTableHandle handle = (MongoTableHandle) table;
        return new ConnectorTableMetadata(
                new SchemaTableName(handle.database(), handle.collection()),
                columns(handle).stream().map(c -> c.metadata(types)).toList());
    }

    @Override
    public List<SchemaTableName> listTables(ConnectorSession session, Optional<String> schemaName)
    {
        List<String> dbs = schemaName.map(s -> database(s).stream().toList()).orElseGet(this::databases);
        List<SchemaTableName> out = new ArrayList<>();
        for (String db : dbs) {
            for (String coll : collections(db)) {
                if (schema.columns(coll).isPresent()) {
                    out.add(new SchemaTableName(db, coll));
                }
            }
        }
        return out;
    }

    @Override
    public Map<String, ColumnHandle> getColumnHandles(ConnectorSession session, ConnectorTableHandle table)
    {
        Map<String, ColumnHandle> out = new LinkedHashMap<>();
        for (MongoColumnHandle column : columns((MongoTableHandle) table)) {
            out.put(lower(column.field()), column);
        }
        return out;
    }

    @Override
    public ColumnMetadata getColumnMetadata(ConnectorSession session, ConnectorTableHandle table, ColumnHandle column)
    {
        return ((MongoColumnHandle) column).metadata(types);
    }

    @Override
    public Map<SchemaTableName, List<ColumnMetadata>> listTableColumns(ConnectorSession session, SchemaTablePrefix prefix)
    {
        List<SchemaTableName> names = prefix.getTable().isPresent()
                ? List.of(prefix.toSchemaTableName())
                : listTables(session, prefix.getSchema());
        Map<SchemaTableName, List<ColumnMetadata>> out = new LinkedHashMap<>();
        for (SchemaTableName name : names) {
            ConnectorTableHandle handle = getTableHandle(session, name, Optional.empty(), Optional.empty());
            if (handle != null) {
                out.put(name, getTableMetadata(session, handle).getColumns());
            }
        }
        return out;
    }

    /**
     * Pushes {@code varchar column = 'literal'} into the scan's {@code find()}. Trino still applies
     * the whole predicate to the rows it gets (nothing is reported as enforced), so a pushdown can
     * only drop rows Trino would drop too: a varchar column holds strings or ObjectIds (the cursor
     * refuses anything else), and the filter matches the literal as either.
     */
    @Override
    public Optional<ConstraintApplicationResult<ConnectorTableHandle>> applyFilter(ConnectorSession session, ConnectorTableHandle table, Constraint constraint)
    {
        MongoTableHandle handle = (MongoTableHandle) table;
        TupleDomain<ColumnHandle> summary = constraint.getSummary();
        if (summary.isNone() || summary.getDomains().isEmpty()) {
            return Optional.empty();
        }
        Map<String, String> equalities = new TreeMap<>(handle.equalities());
        for (Map.Entry<ColumnHandle, Domain> entry : summary.getDomains().get().entrySet()) {
            MongoColumnHandle column = (MongoColumnHandle) entry.getKey();
            Domain domain = entry.getValue();
            if (column.type().equals("varchar") && !domain.isNullAllowed() && domain.isSingleValue()) {
                String value = ((Slice) domain.getSingleValue()).toStringUtf8();
                String before = equalities.putIfAbsent(column.field(), value);
                if (before != null && !before.equals(value)) {
                    // Two different values for one field: no row matches; Trino's own filter says so.
                    return Optional.empty();
                }
            }
        }
        if (equalities.equals(handle.equalities())) {
            return Optional.empty();
        }
        return Optional.of(new ConstraintApplicationResult<>(
                new MongoTableHandle(handle.database(), handle.collection(), equalities),
                summary,
                constraint.getExpression(),
                false));
    }

    private List<MongoColumnHandle> columns(MongoTableHandle handle)
    {
        return schema.columns(handle.collection()).orElseThrow().stream()
                .map(c -> new MongoColumnHandle(c.field(), c.type(), c.hidden()))
                .toList();
    }

    private List<String> databases()
    {
        List<String> out = new ArrayList<>();
        for (String db : client.listDatabaseNames()) {
            if (!SYSTEM_DATABASES.contains(db)) {
                out.add(db);
            }
        }
        return out;
    }

    private List<String> collections(String database)
    {
        return client.getDatabase(database).listCollectionNames().into(new ArrayList<>());
    }

    private Optional<String> database(String name)
    {
        return unique("schema", name, databases());
    }

    /** The exact name of a declared collection of {@code database} matching {@code name}. */
    private Optional<String> collection(String database, String name)
    {
        return unique("table", database + "." + name, collections(database).stream().filter(c -> schema.columns(c).isPresent()).toList(), name);
    }

    private static Optional<String> unique(String what, String name, List<String> candidates)
    {
        return unique(what, name, candidates, name);
    }

    private static Optional<String> unique(String what, String shown, List<String> candidates, String name)
    {
        List<String> matches = candidates.stream().filter(c -> c.equalsIgnoreCase(name)).toList();
        if (matches.size() > 1) {
            throw new TrinoException(AMBIGUOUS_NAME, "%s %s matches %s (names are matched case-insensitively)".formatted(what, shown, matches));
        }
        return matches.stream().findFirst();
    }

    private static String lower(String name)
    {
        return name.toLowerCase(Locale.ENGLISH);
    }
}
