package dev.captionflow.trino.mongodb;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.trino.spi.connector.ConnectorTableHandle;

import static java.util.Objects.requireNonNull;

/**
 * A collection, by its exact database and collection names (Trino's names are lower-cased).
 * Handles cross from the coordinator to the worker as JSON, hence the Jackson annotations
 * (Trino's object mapper does not auto-detect properties).
 */
public record MongoTableHandle(@JsonProperty("database") String database, @JsonProperty("collection") String collection)
        implements ConnectorTableHandle
{
    @JsonCreator
    public MongoTableHandle
    {
        requireNonNull(database, "database is null");
        requireNonNull(collection, "collection is null");
    }

    @Override
    public String toString()
    {
        return database + "." + collection;
    }
}
