package dev.captionflow.trino.mongodb;

import com.mongodb.client.MongoClient;
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

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.trino.spi.StandardErrorCode.AMBIGUOUS_NAME;
import static io.trino.spi.StandardErrorCode.NOT_SUPPORTED;

/**
 * Schemas are the server's databases, tables the declared collections that exist in them,
 * columns the declared fields. Trino hands us lower-cased names; the exact MongoDB names are
 * found by a case-insensitive match and kept in the handles. No writes, no pushdown: Trino
 * filters the scanned rows itself, which is correct for every predicate.
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
