package dev.captionflow.trino.mongodb;

import com.mongodb.ConnectionString;
import com.mongodb.MongoClientSettings;
import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import io.trino.spi.connector.Connector;
import io.trino.spi.connector.ConnectorContext;
import io.trino.spi.connector.ConnectorFactory;
import io.trino.spi.type.TypeSignature;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads the catalog properties, validates them up front (an unknown or missing key fails the
 * catalog with a message naming it, instead of a query failing later) and opens one MongoDB client
 * per catalog.
 */
public final class MongoConnectorFactory
        implements ConnectorFactory
{
    /** The {@code connector.name} of catalogs served by this plugin. */
    public static final String NAME = "captionflow_mongodb";

    static final String CONNECTION_URL = "mongodb.connection-url";
    static final String SCHEMA_FILE = "mongodb.schema-file";
    // Accepted so that a catalog file can mirror the official connector's; matching is always
    // case-insensitive here, because Trino lower-cases every identifier before a connector sees it.
    static final String CASE_INSENSITIVE = "mongodb.case-insensitive-name-matching";

    private static final Set<String> KNOWN = Set.of(CONNECTION_URL, SCHEMA_FILE, CASE_INSENSITIVE);

    @Override
    public String getName()
    {
        return NAME;
    }

    @Override
    public Connector create(String catalogName, Map<String, String> config, ConnectorContext context)
    {
        Set<String> unknown = new TreeSet<>(config.keySet());
        unknown.removeAll(KNOWN);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("catalog %s (%s): unknown properties %s; known: %s".formatted(catalogName, NAME, unknown, new TreeSet<>(KNOWN)));
        }
        String url = require(catalogName, config, CONNECTION_URL, "a mongodb:// connection string");
        String schemaFile = require(catalogName, config, SCHEMA_FILE, "the path of the declared-schema JSON file");
        String caseInsensitive = config.getOrDefault(CASE_INSENSITIVE, "true");
        if (!caseInsensitive.equals("true")) {
            throw new IllegalArgumentException("catalog %s: %s=%s, expected true (this connector always matches names case-insensitively)".formatted(catalogName, CASE_INSENSITIVE, caseInsensitive));
        }
        DeclaredSchema schema = DeclaredSchema.load(Path.of(schemaFile));
        ColumnTypes types = new ColumnTypes(context.getTypeManager().getType(new TypeSignature("json")));
        MongoClient client = MongoClients.create(MongoClientSettings.builder()
                .applyConnectionString(new ConnectionString(url))
                // Read-only; FerretDB has no replica set, so retryable writes could not work anyway.
                .retryWrites(false)
                .build());
        return new MongoConnector(client, schema, types);
    }

    private static String require(String catalogName, Map<String, String> config, String key, String expected)
    {
        String value = config.get(key);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("catalog %s: %s is missing, expected %s".formatted(catalogName, key, expected));
        }
        return value;
    }
}
