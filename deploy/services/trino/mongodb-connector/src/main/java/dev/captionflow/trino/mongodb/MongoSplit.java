package dev.captionflow.trino.mongodb;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.trino.spi.connector.ConnectorSplit;

import java.util.Map;

/**
 * The whole collection as one split: correctness first, and the catalog's collections are small
 * next to the gold Parquet. Splitting by `_id` ranges would be the next step.
 */
public record MongoSplit(@JsonProperty("database") String database, @JsonProperty("collection") String collection)
        implements ConnectorSplit
{
    @JsonCreator
    public MongoSplit {}

    @Override
    public Map<String, String> getSplitInfo()
    {
        return Map.of("database", database, "collection", collection);
    }

    @Override
    public long getRetainedSizeInBytes()
    {
        return 64L + 2L * (database.length() + collection.length());
    }
}
