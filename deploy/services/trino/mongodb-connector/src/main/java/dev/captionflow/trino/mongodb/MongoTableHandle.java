package dev.captionflow.trino.mongodb;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.trino.spi.connector.ConnectorTableHandle;

import java.util.Map;
import java.util.TreeMap;

import static java.util.Objects.requireNonNull;

/**
 * A collection, by its exact database and collection names (Trino's names are lower-cased), and
 * the equalities pushed down into its {@code find()} (field → string value). Handles cross from
 * the coordinator to the worker as JSON, hence the Jackson annotations (Trino's object mapper
 * does not auto-detect properties).
 */
public record MongoTableHandle(
        @JsonProperty("database") String database,
        @JsonProperty("collection") String collection,
        @JsonProperty("equalities") Map<String, String> equalities)
        implements ConnectorTableHandle
{
    @JsonCreator
    public MongoTableHandle
    {
        requireNonNull(database, "database is null");
        requireNonNull(collection, "collection is null");
        equalities = Map.copyOf(equalities == null ? Map.of() : equalities);
    }

    MongoTableHandle(String database, String collection)
    {
        this(database, collection, Map.of());
    }

    @Override
    public String toString()
    {
        StringBuilder out = new StringBuilder(database).append('.').append(collection);
        if (!equalities.isEmpty()) {
            out.append(" find ");
            out.append(JsonText.of(new TreeMap<>(equalities)));
        }
        return out.toString();
    }
}
